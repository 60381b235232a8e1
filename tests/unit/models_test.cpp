// The models are declared once, in labs/models.txt: a model added in one place
// only (a lab directory, a solution, a rubric, the README's table, a lab
// README's heading, the lecture) fails here, naming the place that disagrees.
#include "models.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using checker::all_models;

std::vector<std::string> declared() {
    std::vector<std::string> names;
    for (const checker::Model& model : all_models()) names.push_back(model.name);
    return names;
}

// DIR/NAME/FILE for every NAME that has one, sorted.
std::vector<std::string> directories_with(const std::string& dir, const std::string& file) {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir))
        if (fs::exists(entry.path() / file)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::string> sorted(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string command_output(const std::string& command) {
    std::string output;
    if (FILE* pipe = popen(command.c_str(), "r")) {
        char buffer[512];
        while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
        pclose(pipe);
    }
    return output;
}

TEST(Models, EachHasALabASolutionAndARubricAndNothingElseDoes) {
    EXPECT_EQ(sorted(declared()), directories_with("labs", "server.cpp"))
        << "labs/*/server.cpp and labs/models.txt disagree";
    EXPECT_EQ(sorted(declared()), directories_with("solutions", "server.cpp"))
        << "solutions/*/server.cpp and labs/models.txt disagree";
    std::vector<std::string> rubrics;
    for (const fs::directory_entry& entry : fs::directory_iterator("checker/rubrics"))
        if (entry.path().filename() != "labs.cpp") rubrics.push_back(entry.path().stem());
    EXPECT_EQ(sorted(declared()), sorted(rubrics))
        << "checker/rubrics/*.cpp and labs/models.txt disagree";
}

TEST(Models, TheLabsAreGradedInTheirOrder) {
    std::vector<std::string> labs;
    for (const checker::Lab& lab : checker::all_labs()) labs.push_back(lab.name);
    EXPECT_EQ(labs, declared());
    for (std::size_t i = 0; i < all_models().size(); ++i) {
        EXPECT_EQ(checker::all_labs()[i].model, all_models()[i].summary);
        EXPECT_FALSE(checker::all_labs()[i].rubric.empty()) << all_models()[i].name;
    }
}

TEST(Models, TheScriptReadsTheSameList) {
    // tools/models.sh feeds the Makefile (link flags, the TSan set), make grade and make compare.
    std::string names, threaded;
    for (const checker::Model& model : all_models()) {
        names += std::string(model.name) + "\n";
        if (model.threaded) threaded += std::string(model.name) + "\n";
        EXPECT_EQ(command_output(std::string("tools/models.sh links ") + model.name),
                  model.links[0] ? std::string(model.links) + "\n" : "");
    }
    EXPECT_EQ(command_output("tools/models.sh names"), names);
    EXPECT_EQ(command_output("tools/models.sh threaded"), threaded);
    EXPECT_NE(threaded.find("threads\n"), std::string::npos)
        << "the threads lab is graded under TSan";
}

// The cells of a Markdown table row "| a | b | c |": {"a", "b", "c"}.
std::vector<std::string> cells(const std::string& row) {
    std::vector<std::string> found;
    for (std::size_t start = 2, end; (end = row.find(" |", start)) != std::string::npos;
         start = end + 3)
        found.push_back(row.substr(start, end - start));
    return found;
}

TEST(Models, TheReadmeTableListsThemInOrderWithTheirSummaries) {
    std::istringstream readme(read_file("README.md"));
    std::vector<std::string> found;
    for (std::string line; std::getline(readme, line);) {
        std::vector<std::string> row = cells(line);
        // | N | [name](labs/name/README.md) | summary | what it teaches |
        if (row.size() != 4 || row[1].rfind("[", 0) != 0 ||
            row[1].find("](labs/") == std::string::npos)
            continue;
        std::string name = row[1].substr(1, row[1].find(']') - 1);
        std::size_t index = found.size();
        found.push_back(name);
        ASSERT_LT(index, all_models().size())
            << "README.md lists a lab that labs/models.txt does not: " << name;
        const checker::Model& model = all_models()[index];
        EXPECT_EQ(row[0], std::to_string(index + 1)) << name;
        EXPECT_EQ(row[1], "[" + name + "](labs/" + name + "/README.md)");
        EXPECT_EQ(row[2], model.summary) << "README.md's row of " << model.name;
    }
    EXPECT_EQ(found, declared()) << "README.md's lab table and labs/models.txt disagree";
}

TEST(Models, EachLabReadmeAndTheLectureNumberItInTheCourseOrder) {
    std::string lecture = read_file("slides/lecture.md");
    for (std::size_t i = 0; i < all_models().size(); ++i) {
        const checker::Model& model = all_models()[i];
        std::string number = std::to_string(i + 1);
        std::string readme = std::string("labs/") + model.name + "/README.md";
        EXPECT_EQ(first_line(readme), "# Lab " + number + ": " + model.title) << readme;
        std::string pointer = "**Lab " + number + "**: `" + readme + "`";
        EXPECT_NE(lecture.find(pointer), std::string::npos)
            << "slides/lecture.md has no " << pointer;
    }
}

TEST(Models, ForbiddenInterfacesAreEveryFamilyNeitherRequiredNorAllowed) {
    for (const checker::Model& model : all_models()) {
        checker::InterfaceRules rules = checker::interface_rules(model);
        std::set<std::string> required, forbidden;
        for (const auto* family : rules.required) required.insert(family->key);
        for (const auto* family : rules.forbidden) forbidden.insert(family->key);
        EXPECT_EQ(required, std::set<std::string>(model.required.begin(), model.required.end()))
            << model.name;
        for (const auto* family : checker::interfaces::all_families()) {
            bool allowed = std::count(model.allowed.begin(), model.allowed.end(), family->key) > 0;
            EXPECT_EQ(forbidden.count(family->key) == 1, !required.count(family->key) && !allowed)
                << model.name << ": " << family->key;
        }
    }
    // select forbids the families of the others, and a new family would be forbidden too.
    const checker::Model& select =
        *std::find_if(all_models().begin(), all_models().end(),
                      [](const checker::Model& m) { return std::string(m.name) == "select"; });
    std::set<std::string> forbidden;
    for (const auto* family : checker::interface_rules(select).forbidden)
        forbidden.insert(family->key);
    EXPECT_EQ(forbidden, (std::set<std::string>{"processes", "threads", "poll", "epoll", "io_uring",
                                                "posix_aio"}));
}

TEST(Models, AKeyThatIsNoFamilyIsNamed) {
    checker::Model model = all_models().front();
    model.required.push_back("kqueue");
    try {
        checker::interface_rules(model);
        FAIL() << "an unknown family was accepted";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("'kqueue', which is no interface family"),
                  std::string::npos)
            << error.what();
    }
}

}  // namespace
