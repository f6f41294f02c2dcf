#include "core/guard.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace lipsync {
namespace {

TEST(StatusFromException, NamesTheContextAndTheException) {
  std::exception_ptr error;
  try {
    throw std::runtime_error("disk on fire");
  } catch (...) {
    error = std::current_exception();
  }
  const Status status = status_from_exception(error, "loading 'x'");
  EXPECT_EQ(status.code(), ErrorCode::kInternal);
  EXPECT_EQ(status.message(), "loading 'x': disk on fire");
  EXPECT_EQ(status_from_exception(error).message(), "disk on fire");
}

TEST(StatusFromException, ForeignExceptionsAndMisuseAreStillInternal) {
  std::exception_ptr error;
  try {
    throw 42;
  } catch (...) {
    error = std::current_exception();
  }
  EXPECT_EQ(status_from_exception(error, "step").message(), "step: unknown exception");
  const Status none = status_from_exception(nullptr);
  EXPECT_EQ(none.code(), ErrorCode::kInternal);
  EXPECT_NE(none.message().find("without an exception"), std::string::npos);
}

TEST(Guard, PassesResultsThroughAndCatchesExceptions) {
  EXPECT_TRUE(guard("ok", [] { return Status(); }).ok());
  const Status failed = guard(
      "Render failed", []() -> Status { return make_error(ErrorCode::kNotFound, "model 'x'"); });
  EXPECT_EQ(failed.code(), ErrorCode::kNotFound);
  EXPECT_EQ(failed.message(), "model 'x'");

  const Status thrown = guard("Render failed", []() -> Status { throw std::logic_error("bug"); });
  EXPECT_EQ(thrown.to_string(), "INTERNAL: Render failed: bug");

  const Result<int> value = guard("parse", [] { return Result<int>(7); });
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  const Result<int> lost =
      guard("parse", []() -> Result<int> { throw std::out_of_range("index 9"); });
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().message(), "parse: index 9");
}

}  // namespace
}  // namespace lipsync
