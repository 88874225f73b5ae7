#pragma once
// Activations: a float array that lives where a backend computes (host memory for the CPU backend,
// device memory for a GPU), so a forward pass hands intermediate results from op to op without a copy
// through the host. Row-major [nTokens][width] like the span ops of Backend.h.
//
// A buffer comes from Backend::makeActivations() and may only be passed to the backend that made it.
// resize() keeps the storage when it shrinks and grows it (contents unspecified) when it must.

#include "core/AlignedVector.h"

#include <cstddef>
#include <span>

namespace lathe {

class Activations {
public:
    virtual ~Activations() = default;
    size_t size() const { return size_; }
    virtual void resize(size_t count) = 0;

protected:
    size_t size_ = 0;
};

// The CPU backend's buffer: a host vector, cache-line aligned for the kernels' vector loads. Backends
// without device memory use it as is.
class HostActivations final : public Activations {
public:
    void resize(size_t count) override {
        if (values_.size() < count) values_.resize(count);
        size_ = count;
    }
    std::span<float> span() { return {values_.data(), size_}; }
    std::span<const float> span() const { return {values_.data(), size_}; }

private:
    AlignedVector<float> values_;
};

// The host buffer behind `buffer`; throws lathe::Error (Internal) for another backend's buffer.
HostActivations& hostActivations(Activations& buffer);
const HostActivations& hostActivations(const Activations& buffer);

} // namespace lathe
