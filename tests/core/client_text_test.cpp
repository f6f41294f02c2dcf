// Client text in logs and answers: escaped, bounded, without server paths; model ids checked.
#include "core/client_text.h"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "core/cancel_token.h"
#include "core/memory_trim.h"
#include "core/model_id.h"

namespace lipsync {
namespace {

TEST(ClientText, NewlinesEscapesAndNulCannotForgeALogLine) {
  const std::string forged =
      std::string("a\nE [server] FAKE LINE\r\x1b[31mred\x1b[0m") + '\0' + "z";
  const std::string shown = client_text(forged);
  EXPECT_EQ(shown, "a\\nE [server] FAKE LINE\\r\\x1b[31mred\\x1b[0m\\x00z");
  for (char c : shown) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
}

TEST(ClientText, BackslashesAndBytesAboveAsciiAreEscapedSoTheEscapingIsUnambiguous) {
  EXPECT_EQ(client_text("a\\n"), "a\\\\n");
  EXPECT_EQ(client_text("\xc2\x9b"
                        "1m"),
            "\\xc2\\x9b1m");  // U+009B, a C1 control in UTF-8
  EXPECT_EQ(client_text("plain model-id_1.0"), "plain model-id_1.0");
}

TEST(ClientText, LongTextIsCutAndTheRestCounted) {
  const std::string huge(1 << 20, 'x');
  const std::string shown = client_text(huge, 10);
  EXPECT_EQ(shown, "xxxxxxxxxx...(1048566 more bytes)");
  EXPECT_EQ(client_text(std::string(kClientTextBytes, 'y')), std::string(kClientTextBytes, 'y'));
}

TEST(RedactPaths, AbsolutePathsBecomeTheirFileName) {
  EXPECT_EQ(redact_paths("cannot open '/srv/models/a.onnx': No such file"),
            "cannot open 'a.onnx': No such file");
  EXPECT_EQ(redact_paths("model 'x' failed to load: /home/u/av/frames: not a folder."),
            "model 'x' failed to load: frames: not a folder.");
  EXPECT_EQ(redact_paths("loading (/a/b/c.yaml) and \"/d/e\""), "loading (c.yaml) and \"e\"");
  EXPECT_EQ(redact_paths("folder /srv/data/ is empty"), "folder data is empty");
}

TEST(RedactPaths, TextWithoutServerPathsIsUnchanged) {
  for (const char* text : {"batch_size 40 outside 1..32", "see http://example.invalid/a/b",
                           "ratio 3/4/5 and a/b/c", "/ alone", "root /x only", ""}) {
    EXPECT_EQ(redact_paths(text), text);
  }
}

TEST(ModelId, LettersDigitsDotUnderscoreDashUpTo128Bytes) {
  EXPECT_TRUE(check_model_id("demo").ok());
  EXPECT_TRUE(check_model_id("Avatar-01_v2.fp16").ok());
  EXPECT_TRUE(check_model_id(std::string(kMaxModelIdBytes, 'a')).ok());
}

TEST(ModelId, EmptyTooLongAndForbiddenCharactersNameTheRule) {
  const Status empty = check_model_id("");
  EXPECT_EQ(empty.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "model_id is required");

  const Status long_id = check_model_id(std::string(1 << 20, 'a'));
  EXPECT_EQ(long_id.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(long_id.message().find("1048576 bytes long; at most 128 are allowed"),
            std::string::npos);
  EXPECT_LT(long_id.message().size(), 200u);

  const Status newline = check_model_id("a\nE [server] FAKE", "model");
  EXPECT_EQ(newline.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(newline.message(),
            "model 'a\\nE [server] FAKE' has '\\n' at byte 1: only letters, digits, '.', '_' "
            "and '-' are allowed");
  for (const char* bad : {"a b", "a/b", "../x", "x\x1b", "\xc3\xa9"})
    EXPECT_FALSE(check_model_id(bad).ok()) << bad;
}

TEST(CancelToken, CancelDeadlineAndProbe) {
  CancelSource plain;
  EXPECT_FALSE(plain.cancelled());
  plain.cancel();
  EXPECT_TRUE(plain.token()->cancelled());

  CancelSource expired(CancelToken::Clock::now() - std::chrono::milliseconds(1));
  EXPECT_TRUE(expired.cancelled());
  CancelSource later(CancelToken::Clock::now() + std::chrono::hours(1));
  EXPECT_FALSE(later.cancelled());

  bool client_gone = false;
  CancelSource probed(std::nullopt, [&] { return client_gone; });
  EXPECT_FALSE(probed.cancelled());
  client_gone = true;
  EXPECT_TRUE(probed.cancelled());
}

TEST(CancelToken, TheTokenOutlivesItsSourceCancelledWithoutCallingTheProbe) {
  std::shared_ptr<CancelToken> token;
  int probes = 0;
  {
    CancelSource source(std::nullopt, [&] { return ++probes > 100; });
    token = source.token();
    EXPECT_FALSE(token->cancelled());
  }
  const int before = probes;
  EXPECT_TRUE(token->cancelled());
  EXPECT_EQ(probes, before);
}

TEST(MemoryTrimmer, TrimsOnlyAfterALargeRequestAndOncePerNote) {
  int trimmed = 0;
  MemoryTrimmer trimmer(std::chrono::hours(1), [&] { ++trimmed; });  // the thread never fires
  EXPECT_FALSE(trimmer.trim_if_due());
  trimmer.note(kLargeRequestBytes - 1);
  EXPECT_FALSE(trimmer.trim_if_due());
  trimmer.note(kLargeRequestBytes);
  trimmer.note(60 << 20);
  EXPECT_TRUE(trimmer.trim_if_due());
  EXPECT_FALSE(trimmer.trim_if_due());
  EXPECT_EQ(trimmed, 1);
  EXPECT_EQ(trimmer.trims(), 1);
}

TEST(MemoryTrimmer, ItsThreadTrimsWhenDue) {
  std::promise<void> trimmed;
  MemoryTrimmer trimmer(std::chrono::milliseconds(1), [&] { trimmed.set_value(); });
  trimmer.note(kLargeRequestBytes);
  trimmed.get_future().wait();  // the thread trimmed (set twice would throw: only once)
}

}  // namespace
}  // namespace lipsync
