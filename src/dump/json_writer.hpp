// A minimal JSON writer for gcwalk-dump: objects, arrays, strings (escaped), integers and
// booleans, written compactly into a string; the caller keeps the nesting balanced.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace gcwalk::dump {

class JsonWriter {
  public:
    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }

    // The next value is the member `name` of the current object.
    JsonWriter& key(std::string_view name) {
        separate();
        string_literal(name);
        out_ += ':';
        after_key_ = true;
        return *this;
    }

    void value(std::string_view s) {
        separate();
        string_literal(s);
    }
    void value(const char* s) { value(std::string_view(s)); }
    void value(bool b) {
        separate();
        out_ += b ? "true" : "false";
    }
    void value(uint64_t v) {
        separate();
        out_ += std::to_string(v);
    }
    void value(int64_t v) {
        separate();
        out_ += std::to_string(v);
    }
    void value(uint32_t v) { value(uint64_t{v}); }
    void value(int32_t v) { value(int64_t{v}); }
    void value(uint16_t v) { value(uint64_t{v}); }
    void value(uint8_t v) { value(uint64_t{v}); }

    template <class T> void member(std::string_view name, const T& v) { key(name).value(v); }

    const std::string& str() const { return out_; }
    std::string take() { return std::move(out_); }

  private:
    // A comma before every element but the first of its container; none right after a key.
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_.empty()) {
            if (!first_.back()) out_ += ',';
            first_.back() = false;
        }
    }
    void open(char c) {
        separate();
        out_ += c;
        first_.push_back(true);
    }
    void close(char c) {
        out_ += c;
        if (!first_.empty()) first_.pop_back();
    }
    // Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
    static size_t utf8_length(std::string_view s, size_t i) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t n = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
        if (n == 0 || i + n > s.size()) return 0;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
        return n;
    }
    void string_literal(std::string_view s) {
        out_ += '"';
        for (size_t i = 0; i < s.size(); ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c >= 0x80) {
                // Valid UTF-8 passes through; any other byte (a non-UTF-8 file name) becomes
                // U+FFFD.
                const size_t n = utf8_length(s, i);
                if (n == 0) {
                    out_ += "\\ufffd";
                } else {
                    out_.append(s.substr(i, n));
                    i += n - 1;
                }
                continue;
            }
            switch (c) {
            case '"': out_ += "\\\""; break;
            case '\\': out_ += "\\\\"; break;
            case '\n': out_ += "\\n"; break;
            case '\r': out_ += "\\r"; break;
            case '\t': out_ += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out_ += buf;
                } else {
                    out_ += static_cast<char>(c);
                }
            }
        }
        out_ += '"';
    }

    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

} // namespace gcwalk::dump
