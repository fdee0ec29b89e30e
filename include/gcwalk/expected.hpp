// Load-time errors as values: an Error carries one lower-case message that names the source,
// the blob and the byte offset; Expected<T> holds either a T or an Error.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace gcwalk {

struct Error {
    std::string message;
};

template <class T> class [[nodiscard]] Expected {
  public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& {
        assert(!has_value());
        return std::get<1>(v_);
    }
    Error&& error() && {
        assert(!has_value());
        return std::get<1>(std::move(v_));
    }

  private:
    std::variant<T, Error> v_;
};

// For operations that return nothing on success.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : error_(std::move(error.message)), failed_(true) {}
    static Status ok() { return Status(); }
    bool has_error() const noexcept { return failed_; }
    explicit operator bool() const noexcept { return !failed_; }
    const std::string& message() const noexcept { return error_; }

  private:
    std::string error_;
    bool failed_ = false;
};

} // namespace gcwalk
