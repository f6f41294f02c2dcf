# The fuzz targets, one line each: lipsync_fuzzer(NAME SOURCE LIBRARY...). NAME's seed corpus is
# fuzz/corpus/NAME/ (a few small valid and near-valid inputs). fuzz/CMakeLists.txt gives the
# function its meaning: build the target (fuzz preset) or run it briefly under ctest.
lipsync_fuzzer(audio_decode audio_decode_fuzzer.cpp lipsync::audio)
lipsync_fuzzer(npy npy_fuzzer.cpp lipsync::core)
lipsync_fuzzer(config config_fuzzer.cpp lipsync::core)
lipsync_fuzzer(crop_rects_json crop_rects_json_fuzzer.cpp lipsync::imaging)
lipsync_fuzzer(landmarks landmarks_fuzzer.cpp lipsync::imaging)
lipsync_fuzzer(jpeg_splice jpeg_splice_fuzzer.cpp lipsync::media)
lipsync_fuzzer(ws_messages ws_messages_fuzzer.cpp lipsync::server lipsync::http)
lipsync_fuzzer(compat_request compat_request_fuzzer.cpp lipsync::server lipsync::proto lipsync::audio)
