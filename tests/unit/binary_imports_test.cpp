#include "binary_imports.hpp"
#include "interfaces.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

std::string build_dir() {
    const char* dir = std::getenv("IOLAB_BUILD");
    return dir && *dir ? dir : "build";
}

TEST(BinaryImports, ListsTheSystemCallsOfTheBlockingSolution) {
    auto imports = checker::imported_functions(build_dir() + "/solutions/blocking");
    ASSERT_TRUE(imports.has_value());
    EXPECT_TRUE(imports->count("accept4"));
    EXPECT_TRUE(imports->count("recv"));
    EXPECT_FALSE(imports->count("fork"));
    EXPECT_FALSE(imports->count("epoll_wait"));
}

TEST(BinaryImports, ScriptIsNotAnElfBinary) {
    EXPECT_FALSE(checker::imported_functions("tools/grade.sh").has_value());
    EXPECT_FALSE(checker::imported_functions("/nonexistent").has_value());
}

TEST(BinaryImports, ResolvesCommandsOnPath) {
    EXPECT_EQ(checker::resolve_executable("build/x"), "build/x");
    std::string sh = checker::resolve_executable("sh");
    EXPECT_EQ(sh.front(), '/');
}

TEST(BinaryImports, TheForkAndThreadsSolutionsImportTheirModel) {
    using namespace checker::interfaces;
    auto fork_imports = checker::imported_functions(build_dir() + "/solutions/fork");
    auto thread_imports = checker::imported_functions(build_dir() + "/solutions/threads");
    ASSERT_TRUE(fork_imports && thread_imports);
    EXPECT_EQ(checker::imported_from(process_creation, *fork_imports),
              std::vector<std::string>{"fork"});
    EXPECT_TRUE(checker::imported_from(thread_creation, *fork_imports).empty());
    EXPECT_EQ(checker::imported_from(thread_creation, *thread_imports).size(), 1u);
    EXPECT_TRUE(checker::imported_from(process_creation, *thread_imports).empty());
}

TEST(InterfaceFamilies, ANameEndingInAStarMatchesEveryNameItBegins) {
    using namespace checker::interfaces;
    std::set<std::string> imports{"accept4", "io_uring_queue_init", "io_uring_submit", "io_uringx",
                                  "poll"};
    EXPECT_EQ(checker::imported_from(io_uring_family, imports),
              (std::vector<std::string>{"io_uring_queue_init", "io_uring_submit"}));
    EXPECT_EQ(checker::imported_from(poll_family, imports), std::vector<std::string>{"poll"});
    EXPECT_EQ(checker::imported_from(accepting, imports), std::vector<std::string>{"accept4"});
    EXPECT_TRUE(checker::imported_from(epoll_family, imports).empty());
}

}  // namespace
