#pragma once
// A minimal test harness for tests/gpu. These suites must build on the GPU machine, which has no Qt,
// so they are plain executables: each CHECK failure prints its expression and location, main returns
// 1 on any failure, 0 on success and kSkipped (registered as CTest's SKIP_RETURN_CODE) to skip.

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace lathe::gputest {

inline constexpr int kSkipped = 77;

struct Registry {
    std::vector<std::pair<std::string, std::function<void()>>> cases;
    int failures = 0;
    static Registry& get() {
        static Registry registry;
        return registry;
    }
};

struct Register {
    Register(const char* name, std::function<void()> body) {
        Registry::get().cases.emplace_back(name, std::move(body));
    }
};

inline int runAll() {
    Registry& r = Registry::get();
    for (auto& [name, body] : r.cases) {
        const int before = r.failures;
        try {
            body();
        } catch (const std::exception& e) {
            std::printf("FAIL %s: exception: %s\n", name.c_str(), e.what());
            ++r.failures;
        }
        std::printf("%s %s\n", r.failures == before ? "PASS" : "FAIL", name.c_str());
    }
    std::printf("%d case(s), %d failure(s)\n", int(r.cases.size()), r.failures);
    return r.failures == 0 ? 0 : 1;
}

} // namespace lathe::gputest

#define GPU_TEST_CONCAT2(a, b) a##b
#define GPU_TEST_CONCAT(a, b) GPU_TEST_CONCAT2(a, b)
#define TEST_CASE(name)                                                                                      \
    static void name();                                                                                      \
    static ::lathe::gputest::Register GPU_TEST_CONCAT(register_, name)(#name, name);                         \
    static void name()
#define CHECK(expr)                                                                                          \
    do {                                                                                                     \
        if (!(expr)) {                                                                                       \
            std::printf("  check failed: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                          \
            ++::lathe::gputest::Registry::get().failures;                                                    \
        }                                                                                                    \
    } while (0)
