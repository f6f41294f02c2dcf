# Every external dependency is found here, once. All come from Debian's packages except
# ONNX Runtime (scripts/setup.sh puts it in third_party/onnxruntime; ONNXRUNTIME_ROOT may point
# at an official release folder with include/ and lib/ instead).
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(ONNXRUNTIME_ROOT "${CMAKE_SOURCE_DIR}/third_party/onnxruntime" CACHE PATH
    "ONNX Runtime folder with include/ and lib/ (scripts/setup.sh fills the default)")
find_path(ONNXRUNTIME_INCLUDE_DIR onnxruntime_cxx_api.h
  PATHS "${ONNXRUNTIME_ROOT}/include" "${ONNXRUNTIME_ROOT}/include/onnxruntime" NO_DEFAULT_PATH)
find_library(ONNXRUNTIME_LIBRARY onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib" NO_DEFAULT_PATH)
if(NOT ONNXRUNTIME_INCLUDE_DIR OR NOT ONNXRUNTIME_LIBRARY)
  message(FATAL_ERROR "ONNX Runtime not found under ONNXRUNTIME_ROOT='${ONNXRUNTIME_ROOT}'. "
                      "Run scripts/setup.sh, or pass -DONNXRUNTIME_ROOT=<release folder>.")
endif()
add_library(onnxruntime::onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(onnxruntime::onnxruntime PROPERTIES
  IMPORTED_LOCATION "${ONNXRUNTIME_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${ONNXRUNTIME_INCLUDE_DIR}")
get_filename_component(ONNXRUNTIME_LIBRARY_DIR "${ONNXRUNTIME_LIBRARY}" DIRECTORY)
# The build tree finds ONNX Runtime where it is; installed binaries beside them (Install.cmake).
set(CMAKE_BUILD_RPATH "${ONNXRUNTIME_LIBRARY_DIR}")

pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET GLOBAL
  libavformat libavcodec libavutil libswresample libswscale)
find_package(JPEG REQUIRED)

# Debian ships OpenCV's CMake package only with the full libopencv-dev; we need core + imgproc.
find_path(OpenCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
find_library(OpenCV_CORE_LIBRARY opencv_core REQUIRED)
find_library(OpenCV_IMGPROC_LIBRARY opencv_imgproc REQUIRED)
add_library(opencv::imgproc INTERFACE IMPORTED GLOBAL)
set_target_properties(opencv::imgproc PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "${OpenCV_IMGPROC_LIBRARY};${OpenCV_CORE_LIBRARY}")

if(LIPSYNC_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(LIPSYNC_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
