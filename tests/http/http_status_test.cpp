#include "http/http_status.h"

#include <gtest/gtest.h>

namespace lipsync::http {
namespace {

TEST(HttpStatus, EveryErrorCodeMapsToItsHttpCode) {
  EXPECT_EQ(http_status_code(ErrorCode::kOk), 200);
  EXPECT_EQ(http_status_code(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_code(ErrorCode::kFailedPrecondition), 400);
  EXPECT_EQ(http_status_code(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status_code(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(http_status_code(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status_code(ErrorCode::kCancelled),
            499);  // the client gave up, not a server fault
  EXPECT_EQ(http_status_code(ErrorCode::kDataLoss), 500);
  EXPECT_EQ(http_status_code(ErrorCode::kInternal), 500);
  EXPECT_EQ(http_status_code(ErrorCode::kUnimplemented), 501);
  EXPECT_EQ(http_status_code(ErrorCode::kUnavailable), 503);
}

}  // namespace
}  // namespace lipsync::http
