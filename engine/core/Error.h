#pragma once
// lathe::Error: the one exception type the engine throws. A category says what kind of failure it
// is (the faces map it to exit codes and dialogs); the message names the file, field or value at fault.

#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace lathe {

// Stored in the run store as text; order is free but names are not.
enum class ErrorCategory {
    InvalidArgument, // a wrong flag, option or parameter value from the user
    InvalidFile,     // a model/tokenizer file that is malformed, truncated or hostile
    Unsupported,     // a well-formed input using something Lathe does not implement
    Io,              // the operating system refused: open, read, write, mmap, disk full
    Cancelled,       // a cancel token fired
    Device,          // a compute device is missing or failed
    Internal,        // a bug in Lathe
};

const char* errorCategoryName(ErrorCategory category);

class Error : public std::runtime_error {
public:
    Error(ErrorCategory category, const std::string& message)
        : std::runtime_error(message), category_(category) {}
    ErrorCategory category() const noexcept { return category_; }
    // True when the user can fix it (bad input), false for internal failures.
    bool isUserError() const noexcept { return category_ != ErrorCategory::Internal; }

private:
    ErrorCategory category_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorCategory category, fmt::format_string<Args...> format, Args&&... args) {
    throw Error(category, fmt::format(format, std::forward<Args>(args)...));
}

} // namespace lathe
