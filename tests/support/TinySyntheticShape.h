#pragma once
// A synthetic model small enough for unit tests (2 layers, 64 wide, a 2000-token byte-level BPE
// vocabulary, untied output), with the SmolLM2 preset's tokenizer and specials. Header-only and
// Qt-free, so both the Qt suites and the plain GPU suites (tests/gpu) use it.

#include "io/SyntheticModel.h"

namespace lathe::test {

inline SyntheticModelShape tinySyntheticShape(int vocabSize = 2000) {
    SyntheticModelShape s = *syntheticModelShape("smollm2-135m");
    s.config.nLayers = 2;
    s.config.nEmbd = 64;
    s.config.nHeads = 2;
    s.config.nHeadsKv = 1;
    s.config.headDim = 32;
    s.config.ropeDims = 32;
    s.config.nFf = 96;
    s.config.vocabSize = vocabSize;
    s.config.tiedEmbeddings = false;
    return s;
}

} // namespace lathe::test
