# `cmake --install` and the Debian package (`cpack -G DEB`). The layout is relocatable: the
# binary finds ONNX Runtime through a RUNPATH relative to itself and the demo data through a
# path relative to itself (src/cli/demo_data.cpp), so PREFIX can be anything, and a .deb
# unpacked anywhere runs.
#
#   PREFIX/bin/lipsync
#   PREFIX/lib/lipsync/libonnxruntime.so.1 (+ the CUDA EP plugins when ONNXRUNTIME_ROOT has them)
#   PREFIX/share/lipsync/demo/       what `lipsync render` with no arguments renders
#   PREFIX/share/lipsync/examples/server.yaml   the example configuration, serving the demo
#   PREFIX/share/lipsync/examples/python/        API clients (docs/api.md)
#   PREFIX/share/lipsync/proto/      the gRPC APIs' .proto files, for clients' stubs
#   PREFIX/share/doc/lipsync/        LICENSE, copyright, README.md
#
# A private lib/lipsync rather than the multiarch libdir: ONNX Runtime is not a Debian package,
# and nothing but lipsync should pick this copy up.
set(LIPSYNC_INSTALL_BINDIR bin)
set(LIPSYNC_INSTALL_LIBDIR lib/lipsync)
set(LIPSYNC_INSTALL_DATADIR share/lipsync)
set(LIPSYNC_INSTALL_DOCDIR share/doc/lipsync)

set_target_properties(lipsync PROPERTIES INSTALL_RPATH "$ORIGIN/../${LIPSYNC_INSTALL_LIBDIR}")
install(TARGETS lipsync RUNTIME DESTINATION ${LIPSYNC_INSTALL_BINDIR} COMPONENT lipsync)

# ONNX Runtime under its SONAME (what the binary's DT_NEEDED names), whatever the file is
# called in ONNXRUNTIME_ROOT (setup.sh: libonnxruntime.so; a release: libonnxruntime.so.1.x.y).
get_filename_component(ONNXRUNTIME_LIBRARY_FILE "${ONNXRUNTIME_LIBRARY}" REALPATH)
find_program(LIPSYNC_OBJDUMP objdump REQUIRED)
execute_process(COMMAND "${LIPSYNC_OBJDUMP}" -p "${ONNXRUNTIME_LIBRARY_FILE}"
                OUTPUT_VARIABLE ort_headers RESULT_VARIABLE ort_objdump_failed)
string(REGEX MATCH "SONAME +([^\n ]+)" ort_soname "${ort_headers}")
if(ort_objdump_failed OR NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "cannot read the SONAME of ${ONNXRUNTIME_LIBRARY_FILE} with objdump")
endif()
install(FILES "${ONNXRUNTIME_LIBRARY_FILE}" DESTINATION ${LIPSYNC_INSTALL_LIBDIR}
        RENAME "${CMAKE_MATCH_1}" COMPONENT lipsync)
# The CUDA execution provider is a plugin loaded at run time from beside libonnxruntime
# (runtime/ort_env.cpp). Its own dependencies (CUDA 13, cuDNN 9) are not Debian packages, so
# it is a component of its own that the .deb leaves out (CPACK_COMPONENTS_ALL below).
foreach(plugin libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so)
  if(EXISTS "${ONNXRUNTIME_LIBRARY_DIR}/${plugin}")
    install(FILES "${ONNXRUNTIME_LIBRARY_DIR}/${plugin}" DESTINATION ${LIPSYNC_INSTALL_LIBDIR}
            COMPONENT cuda)
  endif()
endforeach()

# The demo: the files the build generated (tools/CMakeLists.txt), in one folder.
install(FILES "${LIPSYNC_DEMO_DIR}/avatar.mp4" "${LIPSYNC_DEMO_DIR}/crop_rects.json"
              "${LIPSYNC_DEMO_DIR}/speech.wav" "${LIPSYNC_TEST_MODELS_DIR}/demo_unet.onnx"
              "${LIPSYNC_TEST_MODELS_DIR}/demo_encoder.onnx"
        DESTINATION ${LIPSYNC_INSTALL_DATADIR}/demo COMPONENT lipsync)

# examples/server.yaml names the demo in the build tree; the installed copy names the installed
# demo. Generated from the one example so that the two cannot drift apart.
function(lipsync_rewrite_example text_var from to)
  string(FIND "${${text_var}}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "examples/server.yaml no longer contains '${from}': update "
                        "cmake/Install.cmake, which rewrites it for the installed demo")
  endif()
  string(REPLACE "${from}" "${to}" text "${${text_var}}")
  set(${text_var} "${text}" PARENT_SCOPE)
endfunction()
set(example_source "${PROJECT_SOURCE_DIR}/examples/server.yaml")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${example_source}")
file(READ "${example_source}" example)
lipsync_rewrite_example(example "models_root: ..\n" "models_root: ../demo\n")
lipsync_rewrite_example(example "build/release/models/" "")
lipsync_rewrite_example(example "build/release/demo/" "")
file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/install/server.yaml" CONTENT "${example}")
install(FILES "${CMAKE_BINARY_DIR}/install/server.yaml"
        DESTINATION ${LIPSYNC_INSTALL_DATADIR}/examples COMPONENT lipsync)

# What a client needs: the APIs' .proto files and the Python examples of docs/api.md.
install(FILES "${PROJECT_SOURCE_DIR}/src/proto/monolithic.proto"
              "${PROJECT_SOURCE_DIR}/src/proto/lipsync_v1.proto"
        DESTINATION ${LIPSYNC_INSTALL_DATADIR}/proto COMPONENT lipsync)
install(PROGRAMS "${PROJECT_SOURCE_DIR}/examples/python/compat_client.py"
                 "${PROJECT_SOURCE_DIR}/examples/python/native_client.py"
                 "${PROJECT_SOURCE_DIR}/examples/python/ws_client.py"
                 "${PROJECT_SOURCE_DIR}/examples/python/live_client.py"
                 "${PROJECT_SOURCE_DIR}/examples/python/native_live_client.py"
        DESTINATION ${LIPSYNC_INSTALL_DATADIR}/examples/python COMPONENT lipsync)

configure_file("${CMAKE_CURRENT_LIST_DIR}/copyright.in" "${CMAKE_BINARY_DIR}/install/copyright"
               @ONLY)
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" "${PROJECT_SOURCE_DIR}/README.md"
              "${CMAKE_BINARY_DIR}/install/copyright"
        DESTINATION ${LIPSYNC_INSTALL_DOCDIR} COMPONENT lipsync)
foreach(notice LICENSE ThirdPartyNotices.txt)
  if(EXISTS "${ONNXRUNTIME_ROOT}/${notice}")
    install(FILES "${ONNXRUNTIME_ROOT}/${notice}" DESTINATION ${LIPSYNC_INSTALL_DOCDIR}/onnxruntime
            COMPONENT lipsync)
  endif()
endforeach()

# The Debian package: `cpack -G DEB` in the build folder (or `make package`) writes
# lipsync_VERSION_ARCH.deb. Depends come from dpkg-shlibdeps over the packaged binaries.
set(CPACK_PACKAGE_NAME lipsync)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Speech to lip-synced video of a chosen person (SyncTalk_2D models): renderer and server")
# One string: set() with two would join them with ';'.
set(CPACK_PACKAGE_DESCRIPTION
    "lipsync renders speech into lip-synced video with SyncTalk_2D models through ONNX Runtime, \
from the command line (lipsync render) or as a gRPC/HTTP server (lipsync serve).")
set(CPACK_PACKAGE_CONTACT "lipsync maintainers <lipsync@localhost>")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL lipsync)
# Only the components above, in one package: without component install the DEB generator packs
# every component, the CUDA plugins too (then dpkg-shlibdeps fails on libcuda.so.1).
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION video)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(LIPSYNC_WITH_WEBRTC)
  # The GStreamer elements WebRTC loads at run time (shlibdeps sees only the core libraries);
  # without them the server says WebRTC is off and pages use the JPEG stream.
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, \
gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly, gstreamer1.0-nice")
endif()
include(CPack)
