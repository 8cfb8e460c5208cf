// The worker link's frames (serve/protocol.h): encoding, and decoding however the bytes arrive.
#include "serve/protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s += static_cast<char>(b);
  return s;
}

TEST(ServeProtocolTest, EncodesLengthHeaderLengthHeaderAndPayload) {
  std::string frame = EncodeFrame(json{{"type", "predict"}}, "ab");
  std::string header = R"({"type":"predict"})";
  ASSERT_EQ(frame.size(), 8 + header.size() + 2);
  // length counts every byte after itself: 4 + header + payload
  EXPECT_EQ(frame.substr(0, 4), Bytes({0, 0, 0, static_cast<int>(4 + header.size() + 2)}));
  EXPECT_EQ(frame.substr(4, 4), Bytes({0, 0, 0, static_cast<int>(header.size())}));
  EXPECT_EQ(frame.substr(8, header.size()), header);
  EXPECT_EQ(frame.substr(8 + header.size()), "ab");
}

TEST(ServeProtocolTest, LengthsAreBigEndian) {
  std::string payload(70000, 'x');
  std::string frame = EncodeFrame(json::object(), payload);
  uint32_t length = 4 + 2 + 70000;
  EXPECT_EQ(frame.substr(0, 4), Bytes({0, static_cast<int>((length >> 16) & 0xff), static_cast<int>((length >> 8) & 0xff),
                                       static_cast<int>(length & 0xff)}));
}

TEST(ServeProtocolTest, DecodesAFrameFedOneByteAtATime) {
  std::string payload("bin\0ary\xff", 8);
  std::string frame = EncodeFrame(json{{"type", "reply"}, {"id", 7}, {"status", 200}}, payload);
  FrameDecoder decoder(1 << 20);
  for (size_t i = 0; i < frame.size(); ++i) {
    auto none = decoder.Next();
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << "a frame before all of its bytes arrived (" << i << " of " << frame.size() << ")";
    ASSERT_TRUE(decoder.Feed(frame.substr(i, 1)).ok());
  }
  auto got = decoder.Next();
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->header["type"], "reply");
  EXPECT_EQ((*got)->header["id"], 7);
  EXPECT_EQ((*got)->payload, payload);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(ServeProtocolTest, DecodesSeveralFramesFromOneRead) {
  std::string bytes;
  for (int i = 0; i < 5; ++i) bytes += EncodeFrame(json{{"id", i}}, std::string(static_cast<size_t>(i), 'p'));
  bytes += EncodeFrame(json{{"id", 5}}, "partial").substr(0, 11);  // and the start of a sixth
  FrameDecoder decoder(1 << 20);
  ASSERT_TRUE(decoder.Feed(bytes).ok());
  for (int i = 0; i < 5; ++i) {
    auto got = decoder.Next();
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value()) << i;
    EXPECT_EQ((*got)->header["id"], i);
    EXPECT_EQ((*got)->payload, std::string(static_cast<size_t>(i), 'p'));
  }
  auto sixth = decoder.Next();
  ASSERT_TRUE(sixth.ok());
  EXPECT_FALSE(sixth->has_value());
  EXPECT_EQ(decoder.buffered(), 11u);
  ASSERT_TRUE(decoder.Feed(EncodeFrame(json{{"id", 5}}, "partial").substr(11)).ok());
  sixth = decoder.Next();
  ASSERT_TRUE(sixth.ok());
  ASSERT_TRUE(sixth->has_value());
  EXPECT_EQ((*sixth)->payload, "partial");
}

TEST(ServeProtocolTest, EmptyHeaderObjectAndEmptyPayload) {
  FrameDecoder decoder(64);
  ASSERT_TRUE(decoder.Feed(EncodeFrame(json::object(), "")).ok());
  auto got = decoder.Next();
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE((*got)->header.is_object());
  EXPECT_EQ((*got)->payload, "");
}

TEST(ServeProtocolTest, AFrameOverTheLimitFailsAsSoonAsItsLengthArrives) {
  FrameDecoder decoder(1000);
  std::string frame = EncodeFrame(json::object(), std::string(2000, 'x'));
  Status fed = decoder.Feed(frame.substr(0, 8));  // only the prefix: nothing of the payload buffered
  EXPECT_FALSE(fed.ok());
  EXPECT_NE(fed.message().find("over the limit of 1000"), std::string::npos) << fed.message();
  EXPECT_FALSE(decoder.Next().ok());
  EXPECT_FALSE(decoder.Feed("more").ok()) << "errors are final";
}

TEST(ServeProtocolTest, AFrameExactlyAtTheLimitPasses) {
  std::string frame = EncodeFrame(json::object(), std::string(100, 'x'));
  FrameDecoder decoder(frame.size());
  ASSERT_TRUE(decoder.Feed(frame).ok());
  auto got = decoder.Next();
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->has_value());
}

TEST(ServeProtocolTest, MalformedFramesAreErrors) {
  {
    FrameDecoder decoder(1 << 20);  // length 2: shorter than its own header length field
    EXPECT_FALSE(decoder.Feed(Bytes({0, 0, 0, 2, 0, 0, 0, 0})).ok());
  }
  {
    FrameDecoder decoder(1 << 20);  // a header length beyond the frame
    EXPECT_FALSE(decoder.Feed(Bytes({0, 0, 0, 6, 0, 0, 0, 9, '{', '}'})).ok());
  }
  {
    FrameDecoder decoder(1 << 20);  // a header that is JSON but no object
    ASSERT_TRUE(decoder.Feed(Bytes({0, 0, 0, 6, 0, 0, 0, 2, '[', ']'})).ok());
    auto got = decoder.Next();
    EXPECT_FALSE(got.ok());
  }
  {
    FrameDecoder decoder(1 << 20);  // a header that is no JSON
    ASSERT_TRUE(decoder.Feed(Bytes({0, 0, 0, 7, 0, 0, 0, 3, '{', 'x', ':'})).ok());
    EXPECT_FALSE(decoder.Next().ok());
  }
}

TEST(ServeProtocolTest, PrefixMatchesEncodeFrame) {
  std::string h = R"({"a":1})";
  EXPECT_EQ(EncodeFramePrefix(h.size(), 3) + h + "xyz", EncodeFrame(json{{"a", 1}}, "xyz"));
}

TEST(ServeProtocolTest, InvalidUtf8InTheHeaderIsReplacedNotThrown) {
  std::string frame = EncodeFrame(json{{"content_type", std::string("text/\xff")}}, "");
  FrameDecoder decoder(1 << 20);
  ASSERT_TRUE(decoder.Feed(frame).ok());
  auto got = decoder.Next();
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->header["content_type"], "text/\xEF\xBF\xBD");
}

}  // namespace
}  // namespace mlflow_bridge::internal
