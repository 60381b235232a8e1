#include "binary_imports.hpp"

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

}  // namespace
