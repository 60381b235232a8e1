#include "diagnosis.hpp"

#include <gtest/gtest.h>

namespace {

using checker::likely_cause;

TEST(LikelyCause, GlibcsFdSetAbortNamesFdSetPastFdSetsize) {
    auto cause = likely_cause("the server was killed by SIGABRT (Aborted)",
                              "select: listening on 127.0.0.1:1\n"
                              "*** bit out of range 0 - FD_SETSIZE on fd_set ***: terminated\n");
    ASSERT_TRUE(cause);
    EXPECT_EQ(cause->rfind("Likely cause: FD_SET() or FD_ISSET() was given a descriptor numbered "
                           "FD_SETSIZE (1024) or more, past the end",
                           0),
              0u)
        << *cause;
}

TEST(LikelyCause, UndefinedBehaviorSanitizersFdSetReportNamesItToo) {
    auto cause = likely_cause("then the server exited with status 1",
                              "server.cpp:32:17: runtime error: index 16 out of bounds for type "
                              "'long int [16]'\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("FD_SETSIZE (1024)"), std::string::npos) << *cause;
}

TEST(LikelyCause, ADoubleFreeNamesTwoThreadsOnOneConnection) {
    auto cause = likely_cause("the server was killed by SIGABRT (Aborted)",
                              "free(): double free detected in tcache 2\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("EPOLLONESHOT"), std::string::npos) << *cause;
}

TEST(LikelyCause, DeathBySigpipeNamesTheSignalAndBothRemedies) {
    auto cause = likely_cause("then the server was killed by SIGPIPE (Broken pipe)", "");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("SIG_IGN"), std::string::npos) << *cause;
    EXPECT_NE(cause->find("MSG_NOSIGNAL"), std::string::npos) << *cause;
}

TEST(LikelyCause, APortBoundTwiceNamesSoReuseportBeforeBind) {
    auto cause = likely_cause("the server exited with status 1 before it accepted a connection",
                              "reactors: bind 127.0.0.1:4242: Address already in use\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("SO_REUSEPORT, set on each before bind()"), std::string::npos) << *cause;
}

TEST(LikelyCause, NothingToSayWhenTheSymptomNamesNoCause) {
    EXPECT_FALSE(likely_cause("the reply stopped short: 10 of 20 bytes came back",
                              "poll: listening on 127.0.0.1:1\n"));
    EXPECT_FALSE(likely_cause("the server was killed by SIGSEGV", ""));
}

}  // namespace
