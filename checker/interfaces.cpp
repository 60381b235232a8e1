#include "interfaces.hpp"

namespace checker::interfaces {

const InterfaceFamily accepting{
    "accept", "accepting connections", "accept, accept4", {"accept", "accept4"}};
const InterfaceFamily process_creation{"processes",
                                       "process creation",
                                       "fork, vfork, posix_spawn",
                                       {"fork", "vfork", "_Fork", "posix_spawn", "posix_spawnp"}};
// std::thread, std::jthread and std::async all start their thread through
// libstdc++'s std::thread::_M_start_thread, which calls pthread_create itself.
const InterfaceFamily thread_creation{
    "threads",
    "thread creation",
    "pthread_create, std::thread",
    {"pthread_create", "thrd_create", "_ZNSt6thread15_M_start_thread*"}};
// With _FORTIFY_SOURCE, FD_SET and poll() go through the checked __fdelt_chk and __poll_chk.
const InterfaceFamily select_family{
    "select", "select", "select, pselect", {"select", "pselect", "__fdelt_chk"}};
const InterfaceFamily poll_family{
    "poll", "poll", "poll, ppoll", {"poll", "ppoll", "__poll_chk", "__ppoll_chk"}};
const InterfaceFamily epoll_family{
    "epoll",
    "epoll",
    "epoll_create1, epoll_ctl, epoll_wait",
    {"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2"}};
const InterfaceFamily io_uring_family{
    "io_uring", "io_uring", "liburing's io_uring_*", {"io_uring_*"}};
const InterfaceFamily posix_aio_family{"posix_aio",
                                       "asynchronous I/O",
                                       "aio_read, lio_listio, io_submit",
                                       {"aio_read", "aio_write", "aio_suspend", "lio_listio",
                                        "io_setup", "io_submit", "io_getevents"}};
const InterfaceFamily direct_socket_io{
    "socket_io",
    "direct socket I/O",
    "recv, send",
    {"recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg"}};

const std::vector<const InterfaceFamily*>& all_families() {
    static const std::vector<const InterfaceFamily*> families{
        &accepting,    &process_creation, &thread_creation,  &select_family,    &poll_family,
        &epoll_family, &io_uring_family,  &posix_aio_family, &direct_socket_io,
    };
    return families;
}

const InterfaceFamily* find_family(const std::string& key) {
    for (const InterfaceFamily* family : all_families())
        if (key == family->key) return family;
    return nullptr;
}

}  // namespace checker::interfaces

namespace checker {

std::vector<std::string> imported_from(const InterfaceFamily& family,
                                       const std::set<std::string>& imports) {
    std::vector<std::string> found;
    for (const std::string& function : family.functions) {
        if (function.empty() || function.back() != '*') {
            if (imports.count(function)) found.push_back(function);
            continue;
        }
        std::string prefix = function.substr(0, function.size() - 1);
        for (auto it = imports.lower_bound(prefix);
             it != imports.end() && it->rfind(prefix, 0) == 0; ++it)
            found.push_back(*it);
    }
    return found;
}

}  // namespace checker
