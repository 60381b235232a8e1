// Stubs cannot drift from their solutions: tools/make-stub.awk turns each
// solution's LAB regions into TODOs, and every committed labs/MODEL/server.cpp
// must be exactly what it generates from solutions/MODEL/server.cpp.
#include "commands.hpp"

#include <gtest/gtest.h>

namespace {

using namespace iolab_test;

std::string stub_of(const std::string& solution_text,
                    const std::string& stub_path = "labs/demo/server.cpp", int level = 1) {
    TempDir dir;
    write_file(dir.path() / "server.cpp", solution_text);
    CommandRun run = generate_stub(dir.path() / "server.cpp", stub_path, level);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return run.output;
}

TEST(MakeStub, TurnsARegionIntoItsHintAndAThrowNamingTheLine) {
    EXPECT_EQ(stub_of("#include \"x.hpp\"\n"
                      "void run() {\n"
                      "    // BEGIN LAB: Accept clients\n"
                      "    // one at a time.\n"
                      "    int secret = 42;\n"
                      "    // a comment after code is not part of the hint\n"
                      "    use(secret);\n"
                      "    // END LAB\n"
                      "}\n"),
              "#include \"x.hpp\"\n"
              "void run() {\n"
              "    // TODO: Accept clients\n"
              "    //       one at a time.\n"
              "    throw NotImplemented(\"labs/demo/server.cpp:3: see the TODO there\");\n"
              "}\n");
}

TEST(MakeStub, UsesTheStubLineInsteadOfTheThrow) {
    EXPECT_EQ(stub_of("int count() {\n"
                      "        // BEGIN LAB: Count the clients.\n"
                      "        // STUB: return 0;\n"
                      "        return clients.size();\n"
                      "        // END LAB\n"
                      "}\n"),
              "int count() {\n"
              "        // TODO: Count the clients.\n"
              "        return 0;\n"
              "}\n");
}

TEST(MakeStub, NumbersEachRegionByTheStubsOwnLines) {
    std::string stub = stub_of(
        "a();\n"
        "// BEGIN LAB: first\n"
        "one();\n"
        "two();\n"
        "three();\n"
        "// END LAB\n"
        "b();\n"
        "// BEGIN LAB: second\n"
        "// more hint\n"
        "four();\n"
        "// END LAB\n",
        "labs/x/server.cpp");
    EXPECT_EQ(stub,
              "a();\n"
              "// TODO: first\n"
              "throw NotImplemented(\"labs/x/server.cpp:2: see the TODO there\");\n"
              "b();\n"
              "// TODO: second\n"
              "//       more hint\n"
              "throw NotImplemented(\"labs/x/server.cpp:5: see the TODO there\");\n");
}

TEST(MakeStub, LeavesAFileWithoutRegionsAsItIs) {
    std::string text = "// Just scaffolding.\nint main() {\n    return 0;   // END of it\n}\n";
    EXPECT_EQ(stub_of(text), text);
}

// Levels: a "// BEGIN LAB 2:" region encloses level-1 regions of the same
// code; at level 2 it becomes one TODO, at level 1 only its markers and its
// hint vanish.
const char* kNested =
    "void serve() {\n"
    "    // BEGIN LAB 3: Serve the clients.\n"
    "    // STUB: $THROW\n"
    "    prepare();\n"
    "    // BEGIN LAB 2: Read and reply,\n"
    "    // and say why.\n"
    "    // BEGIN LAB: Call read_line() then reply().\n"
    "    // Each line once.\n"
    "    auto line = read_line();\n"
    "    reply(line);\n"
    "    // END LAB\n"
    "    // END LAB 2\n"
    "    // END LAB 3\n"
    "}\n";

TEST(MakeStub, AtLevelOneKeepsTheCodeOfHigherLevelRegions) {
    EXPECT_EQ(stub_of(kNested, "labs/demo/server.cpp", 1),
              "void serve() {\n"
              "    prepare();\n"
              "    // TODO: Call read_line() then reply().\n"
              "    //       Each line once.\n"
              "    throw NotImplemented(\"labs/demo/server.cpp:3: see the TODO there\");\n"
              "}\n");
}

TEST(MakeStub, AtLevelTwoTheLevelTwoRegionSwallowsTheOnesInside) {
    EXPECT_EQ(stub_of(kNested, "labs/demo/server.cpp", 2),
              "void serve() {\n"
              "    prepare();\n"
              "    // TODO: Read and reply,\n"
              "    //       and say why.\n"
              "    throw NotImplemented(\"labs/demo/server.cpp:3: see the TODO there\");\n"
              "}\n");
}

TEST(MakeStub, AtLevelThreeTheOutermostRegionUsesItsOwnStubLines) {
    EXPECT_EQ(stub_of(kNested, "labs/demo/server.cpp", 3),
              "void serve() {\n"
              "    // TODO: Serve the clients.\n"
              "    throw NotImplemented(\"labs/demo/server.cpp:2: see the TODO there\");\n"
              "}\n");
}

TEST(MakeStub, KeepsTheIndentOfStubLinesAndDropsEmptyOnes) {
    EXPECT_EQ(stub_of("// BEGIN LAB 3: Write the helpers\n"
                      "// STUB:\n"
                      "// STUB: int run() {\n"
                      "// STUB:     $THROW\n"
                      "// STUB: }\n"
                      "int run() { return 1; }\n"
                      "// END LAB 3\n"
                      "// OMIT FROM LEVEL 3\n",
                      "labs/demo/server.cpp", 3),
              "// TODO: Write the helpers\n"
              "int run() {\n"
              "    throw NotImplemented(\"labs/demo/server.cpp:1: see the TODO there\");\n"
              "}\n");
}

class CommittedStub : public testing::TestWithParam<std::string> {};

TEST_P(CommittedStub, IsWhatItsSolutionGenerates) {
    const std::string& lab = GetParam();
    std::string stub_path = "labs/" + lab + "/server.cpp";
    CommandRun generated = generate_stub("solutions/" + lab + "/server.cpp", stub_path);
    ASSERT_EQ(generated.exit_code, 0) << generated.output;
    EXPECT_EQ(generated.output, read_file(stub_path))
        << stub_path << " differs from what solutions/" << lab
        << "/server.cpp generates: run make stubs, review, commit";
    EXPECT_NE(generated.output, read_file("solutions/" + lab + "/server.cpp"))
        << "solutions/" << lab
        << "/server.cpp has no // BEGIN LAB region: its stub would be the solution";
}

INSTANTIATE_TEST_SUITE_P(Labs, CommittedStub, testing::ValuesIn(solution_labs()),
                         [](const testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
