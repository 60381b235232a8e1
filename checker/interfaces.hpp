// The system interfaces that give a server's I/O model away, in families, for
// the conformance test system_interfaces. Each lab's rubric says which
// families its server must import a function of (a fork-per-client server
// that never calls fork is not one) and which it must import none of (a
// thread-per-client server handed in for the epoll lab). The functions are
// read from the server binary's dynamic symbol table (binary_imports.hpp).
#pragma once

#include <set>
#include <string>
#include <vector>

namespace checker {

struct InterfaceFamily {
    const char* key;    // as labs/models.txt names it: "threads"
    const char* name;   // "thread creation"
    const char* calls;  // as a student writes them: "pthread_create, std::thread"
    std::vector<std::string>
        functions;  // as imported; a name ending in '*' stands for every name it begins
};

struct InterfaceRules {
    std::vector<const InterfaceFamily*> required;   // at least one function of each
    std::vector<const InterfaceFamily*> forbidden;  // no function of any
};

namespace interfaces {

extern const InterfaceFamily accepting;         // accept, accept4
extern const InterfaceFamily process_creation;  // fork, vfork, posix_spawn...
extern const InterfaceFamily thread_creation;   // pthread_create, std::thread
extern const InterfaceFamily select_family;     // select, pselect
extern const InterfaceFamily poll_family;       // poll, ppoll
extern const InterfaceFamily epoll_family;      // epoll_create1, epoll_ctl, epoll_wait...
extern const InterfaceFamily io_uring_family;   // liburing's io_uring_*
extern const InterfaceFamily posix_aio_family;  // aio_read, lio_listio, io_submit...
extern const InterfaceFamily
    direct_socket_io;  // recv, send and their kin: I/O the thread itself waits for

// Every family, for the rules derived from labs/models.txt.
const std::vector<const InterfaceFamily*>& all_families();
const InterfaceFamily* find_family(const std::string& key);

}  // namespace interfaces

// The functions of `family` that `imports` contains, in order.
std::vector<std::string> imported_from(const InterfaceFamily& family,
                                       const std::set<std::string>& imports);

}  // namespace checker
