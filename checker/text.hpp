// Failure messages are sentences with figures in them. str() writes one from
// its parts, text and numbers alike, so a message reads as the sentence it is:
//   str(clients, " clients connected; only ", answered, " got their line back")
// fixed() gives a number a fixed count of decimals: str("took ", fixed(1.25, 1), " s").
#pragma once

#include <iomanip>
#include <sstream>
#include <string>

namespace checker {

template <typename... Parts>
std::string str(const Parts&... parts) {
    std::ostringstream text;
    (text << ... << parts);
    return text.str();
}

inline std::string fixed(double value, int decimals) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(decimals) << value;
    return text.str();
}

}  // namespace checker
