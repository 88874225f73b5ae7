#pragma once
// Cooperative cancellation for long jobs. Copies share one flag; the job polls `throwIfCancelled`
// at points where stopping leaves nothing half-written.

#include "core/Error.h"

#include <atomic>
#include <memory>

namespace lathe {

class CancelToken {
public:
    CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() noexcept { flag_->store(true, std::memory_order_relaxed); }
    bool isCancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }
    void reset() noexcept { flag_->store(false, std::memory_order_relaxed); }
    void throwIfCancelled() const {
        if (isCancelled()) throw Error(ErrorCategory::Cancelled, "cancelled");
    }

private:
    std::shared_ptr<std::atomic<bool>> flag_;
};

} // namespace lathe
