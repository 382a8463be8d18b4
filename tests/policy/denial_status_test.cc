// How a denial reaches the client: its status, and the commands a request body cannot carry.
#include <gtest/gtest.h>

#include "policy/command_table.h"
#include "policy/decision.h"

namespace kw::policy {
namespace {

TEST(DenialStatusTest, MalformedIs400EverythingElse403) {
  for (Reason r : {Reason::EmptyCommand, Reason::TooLarge, Reason::UnknownSubcommand,
                   Reason::ArityError, Reason::SyntaxError}) {
    EXPECT_EQ(denialStatus(r), 400) << reasonName(r);
  }
  for (Reason r :
       {Reason::UnknownCommand, Reason::CommandDenied, Reason::KeyDenied, Reason::ChannelDenied,
        Reason::GroupDenied, Reason::ScriptDenied, Reason::FunctionDenied,
        Reason::KeyspaceWideDenied, Reason::ScanDenied, Reason::OtherDatabase,
        Reason::ConnectionState, Reason::SortPatternDenied, Reason::TemplateUnbound,
        Reason::Blocking, Reason::Introspection, Reason::Unsupported}) {
    EXPECT_EQ(denialStatus(r), 403) << reasonName(r);
  }
}

TEST(DenialStatusTest, SubscribeOnlyThroughTheStreamingRoutes) {
  const std::string sub = streamOnlyMessage(Decision::allow(findCommand("SUBSCRIBE")));
  EXPECT_EQ(sub,
            "ERR 'subscribe' is only available through /subscribe/{channel} and "
            "/psubscribe/{pattern}");
  EXPECT_FALSE(streamOnlyMessage(Decision::allow(findCommand("psubscribe"))).empty());
  EXPECT_TRUE(streamOnlyMessage(Decision::allow(findCommand("PUBLISH"))).empty());
  EXPECT_TRUE(streamOnlyMessage(Decision::allow(findCommand("GET"))).empty());
  EXPECT_TRUE(streamOnlyMessage(Decision::allow(nullptr)).empty());
}

}  // namespace
}  // namespace kw::policy
