#!/usr/bin/env python3
"""Builds smollm2_tokens.json: token ids from llama.cpp (through llama-cpp-python) for a few hundred
varied strings, tokenized with the real SmolLM2-135M-Instruct GGUF vocabulary. TestTokenizerSmolLM2
checks Lathe's tokenizer against every one of them.

Usage: /tmp/lathe-ref/venv/bin/python make_smollm2_tokens.py [MODEL.gguf] [OUT.json]
Each string is stored as hex of its UTF-8 bytes (exact) plus a readable copy.
"""
import json
import os
import random
import sys

from llama_cpp import Llama, __version__ as llama_cpp_version

DEFAULT_MODEL = os.path.expanduser("~/.local/share/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def english():
    return [
        "Hello world", "Hello, world!", "hello", " hello", "  hello", "Hello World HELLO wOrLd",
        "The quick brown fox jumps over the lazy dog.",
        "It's a dog's life; they'll say we'd've done it, I'm sure you're right and we've won.",
        "IT'S LOUD AND THEY'LL KNOW, WE'D GO, I'M HERE, YOU'RE THERE, WE'VE SEEN IT'S FINE.",
        "don't won't can't shouldn't 'tis 'twas rock'n'roll",
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
        "Mr. O'Neil's car isn't John's.", "e.g. i.e. etc. vs. U.S.A.",
        "A sentence with    multiple   spaces between words.",
        "Trailing spaces   ", "   Leading spaces", "Tabs\tbetween\twords", "New\nline", "Windows\r\nline\r\nendings\r\n",
        "Mixed \t\n \r\n whitespace \n\n\n runs", "\n", "\n\n", "\t", " ", "  ", "   \n   ", "\r", "\r\n\r\n",
        "end.\n\nNew paragraph starts here.", "Email me at someone@example.com or visit https://example.org/path?q=1&x=2#frag",
        "#hashtag @mention $dollar %percent ^caret &amp *star (paren) [bracket] {brace} <angle> |pipe| ~tilde `tick`",
        "!!!???...,,,;;;:::", "--- === +++ *** ___", "«quotes» “curly” ‘single’ „low“ — – … •",
        "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
        "a" * 200, "ab" * 150, "z" * 1000, " " * 50 + "x", "-" * 80, "=" * 33, "!" * 17,
        "The year 2024 was followed by 2025.", "ThisIsCamelCaseText and snake_case_text and SCREAMING_CASE",
        "UPPERCASE lowercase Title Case", "I", "a", ".", "?", "Question? Answer! Done.",
        "SmolLM2 is a family of compact language models.", "Lathe makes LLMs fast.",
        "user", "assistant", "system", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    ]


def code():
    return [
        "def add(a, b):\n    return a + b\n",
        "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\nprint(x.shape)\n",
        "class Foo:\n    def __init__(self):\n        self._x = 1\n\n    @property\n    def x(self):\n        return self._x\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
        "#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size(); }\n",
        "template <typename T>\nconstexpr T square(T x) noexcept { return x * x; }\n",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
        "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n",
        "const f = async (x) => { await fetch(`/api/${x}`); return x ?? null; };",
        "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }",
        "SELECT id, name FROM users WHERE age >= 21 AND name LIKE 'A%' ORDER BY id DESC;",
        "<html><body><div class=\"main\">Hi &amp; bye</div></body></html>",
        "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
        "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done\n",
        "x <<= 2; y >>= 3; z ^= ~w; a &&= b; c ||= d; e ??= f;",
        "public static void main(String[] args) { System.out.println(\"Hi\"); }",
        "    indented by four\n        by eight\n\t\ttwo tabs\n",
        "if x == 1:\n\tpass\nelif x != 2:\n\traise ValueError('bad')\n",
        "matrix[i][j] += alpha * A[i][k] * B[k][j];",
        "-- Haskell\nmain :: IO ()\nmain = mapM_ print [x * 2 | x <- [1..10], odd x]\n",
        "(defun square (x) (* x x))", "<?php echo $var; ?>", "ls -la /usr/local/bin | grep -v '^d'",
        "a+=1;b-=2;c*=3;d/=4;e%=5;", "0x1F 0b1010 0o777 1_000_000 3.14159 6.02e23 -0.0 .5 5.",
        "// comment\n/* block\n   comment */\n", "    \n    \n", "x = \"string with \\\"escapes\\\" and \\n\"",
    ]


def numbers():
    out = ["0", "1", "12", "123", "1234", "12345", "123456", "1234567890", "3.14159265358979323846",
           "1,000,000", "1.000.000,00", "-42", "+7", "10^6", "2^10=1024", "1/3", "50%", "$19.99", "€5", "¥1000",
           "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "①②③", "Ⅻ", "½ ¼ ¾", "²³¹", "１２３", "phone: +1 (555) 123-4567",
           "2024-01-15T10:30:00Z", "192.168.0.1", "v1.2.3-rc.4", "ISBN 978-3-16-148410-0"]
    rng = random.Random(1234)
    for length in (10, 25, 50, 100, 257):
        out.append("".join(rng.choice("0123456789") for _ in range(length)))
    out.append("9" * 64)
    out.append("0" * 33)
    out.append(" ".join(str(rng.randint(0, 10**9)) for _ in range(20)))
    return out


def scripts():
    return [
        "你好，世界！", "我爱自然语言处理。这是一个测试句子。", "東京は日本の首都です。", "ひらがな カタカナ 漢字",
        "中文English混合mixed文本text", "안녕하세요, 세계!", "한국어 형태소 분석은 어렵습니다.", "ㄱㄴㄷ ㅏㅑㅓ",
        "مرحبا بالعالم", "اللغة العربية جميلة جدا.", "نص عربي مع English في الوسط",
        "नमस्ते दुनिया", "हिन्दी भाषा में कुछ शब्द।", "Привет, мир!", "Съешь же ещё этих мягких французских булок.",
        "Γειά σου Κόσμε", "שלום עולם", "สวัสดีชาวโลก", "Xin chào thế giới", "Zażółć gęślą jaźń",
        "Ærøskøbing Ålborg Øresund", "İstanbul ılık ışık", "ß ẞ ſ ﬁ ﬂ ǅ", "Ελληνικά και русский и 中文",
        "ქართული ენა", "Հայերեն", "አማርኛ", "தமிழ் மொழி", "বাংলা ভাষা", "ગુજરાતી", "ਪੰਜਾਬੀ", "తెలుగు", "ಕನ್ನಡ", "മലയാളം",
        "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "𝐀𝐁𝐂 𝑥𝑦𝑧", "∀x∈ℝ: x²≥0 ∧ ∑ᵢ aᵢ ≤ ∞", "→ ← ↑ ↓ ⇒ ⇔", "♠♣♥♦ ☀☁☂ ✓✗",
    ]


def emoji():
    return [
        "😀", "I love 🍕 and 🍣!", "👍🏽", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦", "👩‍💻 coding", "🏳️‍🌈", "🏴‍☠️",
        "❤️ ❤ ♥️", "🇺🇸🇯🇵🇩🇪", "1️⃣ #️⃣", "🧑🏾‍🚀", "😀😃😄😁😆😅😂🤣", "emoji😀inside😀words", " 😀 ", "🤖\n🤖\t🤖",
        "🫠🫡🫶", "👁️‍🗨️", "🐈‍⬛", "a👍b", "🎉🎉🎉 Party! 🎉🎉🎉",
    ]


def accents():
    return [
        "café", "cafe\u0301", "naïve", "nai\u0308ve", "Ångström", "A\u030angstro\u0308m", "résumé", "re\u0301sume\u0301",
        "Crème brûlée", "Ca\u0327", "ñ n\u0303", "ệ e\u0323\u0302", "Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o",
        "o\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307", "\u0301 leading combining", "ǲ ǳ Ǳ", "ﬀ ﬃ", "Ⅸ ⅸ",
        "Ａｌｐｈａ ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ", "é" * 50,
    ]


def special_text():
    return [
        "<|im_start|>user\nHello<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user", "text before<|im_end|>text after", "<|endoftext|><|endoftext|>", "<|im_start|><|im_end|>",
        "<|im_start", "im_start|>", "<|im_start|", "< |im_start| >", "<|IM_START|>", "<<|im_start|>>",
        "<repo_name>lathe<file_sep>main.cpp", "<filename>a.py\n<gh_stars>10", "<jupyter_code>print(1)<jupyter_output>1",
        "<issue_start>bug<issue_comment>fixed<issue_closed>", "<empty_output>", "<|im_end|>\n", " <|im_end|> ",
        "a<|endoftext|>b", "<|endoftext|>", "<s></s><unk>", "[INST] hi [/INST]", "<|eot_id|>", "<start_of_turn>",
    ]


def edge_cases():
    return [
        "\ufffd", "a\ufffdb", "\ufffd\ufffd\ufffd", "\ufeffBOM at start", "mid\ufeffBOM", "\x00", "a\x00b", "\x00\x00",
        "\ufdd0\ufdd1", "\uffff", "\ufffe", "\U0001FFFF", "\U0010FFFF", "\U000E0001 tag", "\u200b zero\u200bwidth",
        "\u200c\u200d", "\u00a0non-breaking\u00a0space", "\u2003em space\u2002en", "\u3000ideographic space",
        "\u0085next line", "\u2028line sep\u2029para sep", "\x0bvertical\x0ctab and form feed", "\x1c\x1d\x1e\x1f",
        "\x01\x02\x03\x7f", "\u00ad soft hyphen", "\u202eRTL override\u202c", "\u0600\u0601 arabic number sign",
        "\U000F0000 private use plane", "\ue000 pua", "\U0001F3FB alone skin tone", "\u200d alone zwj",
        "\ufe0f alone vs16", "\u0345 iota", "x\u20dd", "\u00b5 micro \u03bc mu", "\u2126 ohm \u03a9 omega",
        "\u212a kelvin", "\u0130 \u0131", "'s'S'\u017f", "\u1e9e\u00df", "\U0001D7D8\U0001D7D9 math digits",
        "", "a", " a", "a ", "\t\n", "' '", "''", "'", "'''s", "it'''s", "\"\"\"docstring\"\"\"",
    ]


def mixed(rng):
    pools = english() + code() + numbers() + scripts() + emoji() + accents() + edge_cases()
    out = []
    for _ in range(40):
        k = rng.randint(2, 4)
        out.append(rng.choice([" ", "", "\n", "\t", "  "]).join(rng.choice(pools) for _ in range(k)))
    return out


def build_strings():
    rng = random.Random(20240615)
    strings = english() + code() + numbers() + scripts() + emoji() + accents() + special_text() + edge_cases()
    strings += mixed(rng)
    seen = set()
    unique = []
    for s in strings:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "smollm2_tokens.json")
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    strings = build_strings()
    assert len(strings) >= 300, len(strings)
    cases = []
    for s in strings:
        raw = s.encode("utf-8")
        cases.append({
            "hex": raw.hex(),
            "text": s,
            "ids": llm.tokenize(raw, add_bos=False, special=False),
            "ids_special": llm.tokenize(raw, add_bos=False, special=True),
        })
    with open(out_path, "w", encoding="utf-8") as f:
        # One case per line: diffs stay readable when the fixture is regenerated.
        f.write("{\n")
        f.write(f'"model": {json.dumps(os.path.basename(model))},\n')
        f.write(f'"reference": {json.dumps("llama-cpp-python " + llama_cpp_version)},\n')
        f.write('"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]\n}\n")
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main()
