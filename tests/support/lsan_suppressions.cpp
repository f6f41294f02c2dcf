// LeakSanitizer's suppressions, built into every test binary (lipsync_test): leaks inside
// third-party libraries we do not build. ONNX Runtime keeps a few bytes of process-lifetime state
// (14 bytes once the CUDA execution provider is installed beside it, scripts/setup.sh --cuda).
// Our own code has none. Compiled in rather than given as LSAN_OPTIONS=suppressions=FILE: a
// ctest ENVIRONMENT list passed through gtest_discover_tests keeps only its first entry.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT: the sanitizer's hook name
  return "leak:libonnxruntime.so\n";
}
