#pragma once
// Appends GGUF's little-endian encoding of scalars, strings and metadata values to a byte vector.
// Shared by GgufWriter (whole files in memory) and the streaming synthetic-model writer.

#include "io/GgufValue.h"

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace lathe {

class GgufEncoder {
public:
    explicit GgufEncoder(std::vector<uint8_t>& out) : out_(out) {}

    template <typename T> void scalar(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        out_.insert(out_.end(), p, p + sizeof v);
    }
    void string(const std::string& s) {
        scalar<uint64_t>(s.size());
        out_.insert(out_.end(), s.begin(), s.end());
    }
    // key, value type, value: one metadata entry.
    void keyValue(const std::string& key, const GgufValue& v) {
        string(key);
        scalar<uint32_t>(uint32_t(v.type()));
        value(v);
    }
    void value(const GgufValue& v) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, GgufArray>)
                    array(v, x);
                else
                    element(x);
            },
            v.value);
    }

private:
    template <typename T> void element(const T& x) {
        if constexpr (std::is_same_v<T, std::string>)
            string(x);
        else if constexpr (std::is_same_v<T, bool>)
            scalar<uint8_t>(x ? 1 : 0);
        else
            scalar<T>(x);
    }
    void array(const GgufValue& v, const GgufArray& a) {
        scalar<uint32_t>(uint32_t(v.elementType()));
        scalar<uint64_t>(v.arraySize());
        std::visit(
            [&](const auto& elements) {
                for (const auto& e : elements)
                    element(e);
            },
            a);
    }

    std::vector<uint8_t>& out_;
};

} // namespace lathe
