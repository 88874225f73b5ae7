// Child process of TestRunStoreCrash: writes runs, samples, metrics and chat messages to a run store and
// prints one line per committed write to stdout (unbuffered), so the parent knows what must survive.
//   lathe_store_writer DB forever          write until killed
//   lathe_store_writer DB count N          write N rounds and exit 0 (exit 3 on any error)

#include "core/Error.h"
#include "store/RunStore.h"

#include <cstdio>
#include <fmt/format.h>
#include <string>
#include <unistd.h>

using namespace lathe;

namespace {

void report(const std::string& line) {
    const std::string text = line + "\n";
    // One write(2) per line: a kill leaves whole lines in the pipe, never half of one.
    if (::write(STDOUT_FILENO, text.data(), text.size()) != ssize_t(text.size())) _exit(4);
}

void writeRound(RunStore& store, int64_t model, int round) {
    const int64_t run =
        store.beginRun(RunKind::Bench, model, {{"round", round}, {"pid", getpid()}}, {{"writer", true}});
    report(fmt::format("run {}", run));
    int64_t samples = 0;
    for (int batch = 0; batch < 3; ++batch) {
        std::vector<RunSample> points;
        for (int i = 0; i < 40; ++i)
            points.push_back({"rss", double(samples + i), double(round)});
        store.appendSamples(run, points);
        samples += int64_t(points.size());
        report(fmt::format("samples {} {}", run, samples));
    }
    store.addMetric(run, {"round", double(round), ""});
    report(fmt::format("metric {} {}", run, round));
    const int64_t chat = store.createChat(fmt::format("chat {}", round));
    report(fmt::format("chat {}", chat));
    const int64_t message = store.addMessage(chat, "assistant", "", {}, false);
    report(fmt::format("message {} 0", message));
    std::string content;
    for (int piece = 1; piece <= 4; ++piece) {
        content += fmt::format("token{} ", piece);
        store.updateMessage(message, content, {10, 20, piece, 0}, piece == 4);
        report(fmt::format("message {} {}", message, content.size()));
    }
    store.finishRun(run, RunStatus::Done);
    report(fmt::format("done {}", run));
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DB forever | DB count N\n", argv[0]);
        return 2;
    }
    try {
        auto store = RunStore::open(argv[1]);
        ModelRecord model;
        model.path = "/writer/model.gguf";
        model.name = "writer model";
        const int64_t modelId = store->registerModel(model);
        report(fmt::format("model {}", modelId));
        const bool forever = std::string(argv[2]) == "forever";
        const int rounds = forever ? 0 : std::stoi(argv[3]);
        for (int round = 0; forever || round < rounds; ++round)
            writeRound(*store, modelId, round);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", int(getpid()), e.what());
        return 3;
    }
}
