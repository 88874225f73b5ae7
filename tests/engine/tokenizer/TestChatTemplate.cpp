#include "tokenizer/ChatTemplate.h"

#include <QtTest>

using namespace lathe;

// Detection uses excerpts of the families' real templates; the expected prompts are the
// reference renderings (as llama.cpp's test-chat-template lists them) without the leading BOS.
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};

const char* kSmolLm2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' "
    "}}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% "
    "endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

ChatTemplate fromText(const std::string& text) {
    TokenizerSpec spec;
    spec.chatTemplate = text;
    return ChatTemplate::detect(spec);
}

} // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT
private slots:
    void smolLm2() {
        const ChatTemplate t = fromText(kSmolLm2Template);
        QCOMPARE(t.family(), ChatTemplateFamily::ChatML);
        QCOMPARE(t.familyName(), std::string_view("chatml"));
        QCOMPARE(t.defaultSystemPrompt().value_or(""),
                 std::string("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
        // No system message: the template inserts its own.
        QCOMPARE(
            t.apply({{"user", "Hi"}}, true),
            std::string("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                        "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        // A system message of our own replaces it.
        QCOMPARE(t.apply({{"system", "Be brief."}, {"user", "Hi"}}, false),
                 std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"));
        QCOMPARE(t.stopStrings(), std::vector<std::string>({"<|im_end|>"}));
    }

    // A default system prompt written with escaped newlines in the template gets real ones.
    void defaultSystemPromptUnescapesNewlines() {
        std::string text = kSmolLm2Template;
        const std::string from = "named SmolLM, trained";
        text.replace(text.find(from), from.size(), "named SmolLM.\\n\\nTrained");
        QCOMPARE(fromText(text).defaultSystemPrompt().value_or(""),
                 std::string("You are a helpful AI assistant named SmolLM.\n\nTrained by Hugging Face"));
    }

    void chatMl() {
        const ChatTemplate t =
            fromText("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                     "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}");
        QVERIFY(!t.defaultSystemPrompt());
        QCOMPARE(t.apply(kConversation, true),
                 std::string(
                     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_"
                     "end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are "
                     "you<|im_end|>\n<|im_start|>assistant\n"));
    }

    void llama2() {
        const ChatTemplate t =
            fromText("{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
                     "messages[0]['content'] %}{% endif %}{{ bos_token + '[INST] ' + content.strip() "
                     "+ ' [/INST]' }}");
        QCOMPARE(t.family(), ChatTemplateFamily::Llama2);
        QCOMPARE(t.apply(kConversation, true),
                 std::string("[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi "
                             "there</s><s>[INST] Who are you [/INST]"));
        QCOMPARE(t.stopStrings(), std::vector<std::string>({"</s>"}));
    }

    void mistral() {
        const ChatTemplate v2 =
            fromText("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' "
                     "%}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}");
        QCOMPARE(v2.family(), ChatTemplateFamily::Mistral);
        QCOMPARE(v2.apply({{"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"}}, true),
                 std::string("[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]"));
        const ChatTemplate v3 =
            fromText("{%- if messages[0][\"role\"] == \"system\" %}[AVAILABLE_TOOLS] {{ \"[INST] \" }}");
        QCOMPARE(
            v3.apply(kConversation, true),
            std::string(
                "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST]"));
        const ChatTemplate v7 =
            fromText("{{ '[SYSTEM_PROMPT] ' + system_message + '[/SYSTEM_PROMPT]' }}[INST]");
        QCOMPARE(
            v7.apply(kConversation, true),
            std::string("[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi "
                        "there</s>[INST] Who are you[/INST]"));
    }

    void llama3() {
        const ChatTemplate t =
            fromText("{% set content = '<|start_header_id|>' + message['role'] + "
                     "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}");
        QCOMPARE(t.family(), ChatTemplateFamily::Llama3);
        QCOMPARE(t.apply({{"system", "You are a helpful assistant"}, {"user", " Hello \n"}}, true),
                 std::string(
                     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
                     "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_"
                     "header_id|>assistant<|end_header_id|>\n\n"));
        QCOMPARE(t.stopStrings(), std::vector<std::string>({"<|eot_id|>"}));
    }

    void gemma() {
        const ChatTemplate t =
            fromText("{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
                     "'<end_of_turn>\\n' }}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}");
        QCOMPARE(t.family(), ChatTemplateFamily::Gemma);
        QCOMPARE(t.apply(kConversation, true),
                 std::string(
                     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>"
                     "model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are "
                     "you<end_of_turn>\n<start_of_turn>model\n"));
    }

    void phi3() {
        const ChatTemplate t =
            fromText("{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{{ '<|assistant|>\\n' }}");
        QCOMPARE(t.family(), ChatTemplateFamily::Phi3);
        QCOMPARE(
            t.apply(kConversation, true),
            std::string(
                "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi "
                "there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"));
        QCOMPARE(t.stopStrings(), std::vector<std::string>({"<|end|>"}));
    }

    void zephyr() {
        const ChatTemplate t =
            fromText("{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' "
                     "+ message['content'] + eos_token }}{% endif %}{% endfor %}");
        QCOMPARE(t.family(), ChatTemplateFamily::Zephyr);
        QCOMPARE(
            t.apply(kConversation, true),
            std::string(
                "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|"
                "assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n"));
    }

    void fallbacks() {
        TokenizerSpec spec;
        spec.tokens = {"a", "<|im_start|>"};
        QCOMPARE(ChatTemplate::detect(spec).family(), ChatTemplateFamily::ChatML);
        spec.tokens = {"a", "b"};
        const ChatTemplate unknown = ChatTemplate::detect(spec);
        QCOMPARE(unknown.family(), ChatTemplateFamily::Unknown);
        QCOMPARE(unknown.apply({{"user", "Hello"}, {"assistant", "Hi"}}, true), std::string("Hello\nHi\n"));
        QVERIFY(unknown.stopStrings().empty());
    }
};

QTEST_APPLESS_MAIN(TestChatTemplate)
#include "TestChatTemplate.moc"
