#include "line_protocol.hpp"

namespace iolab {

std::size_t LineProtocol::consume(std::string_view bytes, std::string& replies) {
    std::size_t requests = 0;
    while (!bytes.empty()) {
        std::size_t newline = bytes.find('\n');
        std::string_view piece =
            bytes.substr(0, newline == std::string_view::npos ? bytes.size() : newline + 1);
        bytes.remove_prefix(piece.size());
        bool complete = piece.back() == '\n';

        if (discarding_) {  // skip the rest of an over-long line
            discarding_ = !complete;
            continue;
        }
        std::size_t line_length = partial_.size() + piece.size() - (complete ? 1 : 0);
        if (line_length > kMaxLine) {  // reply once, then skip up to its '\n'
            partial_.clear();
            partial_.shrink_to_fit();
            replies += kTooLong;
            ++requests;
            discarding_ = !complete;
            continue;
        }
        if (!complete) {
            partial_ += piece;
            continue;
        }
        replies += partial_;  // echo: the reply is the request
        replies += piece;
        partial_.clear();
        ++requests;
    }
    return requests;
}

std::size_t LineProtocol::finish(std::string& replies) {
    if (discarding_ || partial_.empty()) return 0;
    replies += partial_;
    partial_.clear();
    return 1;
}

}  // namespace iolab
