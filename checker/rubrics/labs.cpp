// The labs the checker grades, in the order of the course.
#include "../rubric.hpp"

namespace checker {

Lab blocking_lab();
Lab select_lab();
Lab poll_lab();
Lab fork_lab();
Lab threads_lab();
Lab aio_lab();
Lab epoll_lab();

const std::vector<Lab>& all_labs() {
    static const std::vector<Lab> labs{
        blocking_lab(),
        select_lab(),
        poll_lab(),
        fork_lab(),
        threads_lab(),
        aio_lab(),
        epoll_lab(),
    };
    return labs;
}

const Lab* find_lab(const std::string& name) {
    for (const Lab& lab : all_labs())
        if (lab.name == name) return &lab;
    return nullptr;
}

const char* category_name(Category category) {
    switch (category) {
    case Category::Correctness: return "correctness";
    case Category::Concurrency: return "concurrency";
    case Category::Robustness:  return "robustness";
    case Category::Resources:   return "resources";
    case Category::Conformance: return "conformance";
    }
    return "?";
}

}  // namespace checker
