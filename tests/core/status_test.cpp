#include "core/status.h"

#include <gtest/gtest.h>

namespace lipsync {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorCode::kInvalidArgument, "{} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check_both(int a, int b) {
  RETURN_IF_ERROR(parse_positive(a).status());
  RETURN_IF_ERROR(parse_positive(b).status());
  return {};
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(Status, CarriesCodeMessageAndContext) {
  Status s = make_error(ErrorCode::kNotFound, "model '{}' is not configured", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.to_string(), "NOT_FOUND: model 'x' is not configured");
  EXPECT_EQ(s.with_context("loading").message(), "loading: model 'x' is not configured");
}

TEST(Status, CancelledIsItsOwnCode) {
  const Status s = make_error(ErrorCode::kCancelled, "the client cancelled the call");
  EXPECT_EQ(s.to_string(), "CANCELLED: the client cancelled the call");
  EXPECT_NE(to_string(ErrorCode::kCancelled), to_string(ErrorCode::kUnavailable));
}

TEST(Result, PropagatesValuesAndErrors) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "-1 is not positive");
  EXPECT_TRUE(check_both(1, 2).ok());
  EXPECT_EQ(check_both(1, 0).message(), "0 is not positive");
}

TEST(Result, OkStatusWithoutValueBecomesInternalError) {
  Result<int> r{Status{}};
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
}

}  // namespace
}  // namespace lipsync
