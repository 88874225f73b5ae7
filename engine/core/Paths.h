#pragma once
// Where Lathe keeps its files: the XDG data folder ($XDG_DATA_HOME/lathe, else ~/.local/share/lathe).

#include <filesystem>

namespace lathe {

std::filesystem::path userDataDir();      // created on first use
std::filesystem::path userModelDir();     // userDataDir()/models
std::filesystem::path defaultModelPath(); // the default SmolLM2 GGUF inside userModelDir()

} // namespace lathe
