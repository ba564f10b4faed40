// The control socket's request line: verbs, their access, and the answers for what is not a
// request (the fuzz target control_request checks the same function on any input).
#include "common/control_request.hpp"

#include <gtest/gtest.h>

#include <set>

namespace hactl {
namespace {

TEST(ControlRequest, ReadAndWriteVerbs) {
  const auto status = parse_control_request(R"({"cmd":"status"})");
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(status->cmd, "status");
  EXPECT_EQ(status->access, ControlAccess::kRead);
  const auto ban = parse_control_request(R"({"cmd":"resource-ban","resource":"web","node":"n2"})");
  ASSERT_TRUE(ban) << ban.error();
  EXPECT_EQ(ban->access, ControlAccess::kWrite);
  EXPECT_EQ(ban->body.at("node"), "n2");
  EXPECT_EQ(control_access("config-check"), ControlAccess::kRead);
  EXPECT_EQ(control_access("config-apply"), ControlAccess::kWrite);
  EXPECT_EQ(control_access("coordinator-handover"), ControlAccess::kWrite);
  EXPECT_EQ(control_access("reboot"), std::nullopt);
}

// One list: each verb's wire name maps back to it, with the access the list gives; no name twice.
TEST(ControlRequest, EveryVerbOnceWithItsAccess) {
  std::set<std::string_view> names;
  for (const auto& info : kControlVerbs) {
    EXPECT_TRUE(names.insert(info.wire).second) << info.wire;
    EXPECT_EQ(control_verb(info.wire), info.verb);
    EXPECT_EQ(control_access(info.wire), info.access);
    EXPECT_EQ(control_body(info.verb), nlohmann::json({{"cmd", std::string(info.wire)}}));
    const auto parsed = parse_control_request(control_body(info.verb).dump());
    ASSERT_TRUE(parsed) << info.wire;
    EXPECT_EQ(parsed->verb, info.verb);
  }
  EXPECT_EQ(control_access("resource-restart"), ControlAccess::kWrite);
  EXPECT_EQ(wire_name(ControlVerb::kConfigApply), "config-apply");
}

TEST(ControlRequest, RefusalsSayWhy) {
  for (const char* line : {"", "status", "[1,2]", "{\"cmd\":\"status\"", "\"status\""}) {
    EXPECT_EQ(parse_control_request(line).error(),
              "malformed request: expected one JSON object per line")
        << line;
  }
  EXPECT_EQ(parse_control_request(R"({"cmd":"reboot"})").error(), "unknown command 'reboot'");
  EXPECT_EQ(parse_control_request(R"({"verb":"status"})").error(), "unknown command ''");
  const auto number = parse_control_request(R"({"cmd":1})");
  ASSERT_FALSE(number);
  EXPECT_TRUE(number.error().starts_with("malformed request: ")) << number.error();
}

}  // namespace
}  // namespace hactl
