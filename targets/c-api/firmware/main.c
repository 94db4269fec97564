/* The C API on a Cortex-M4F (mps2-an386, under QEMU): the firmware of a C team, built with
 * arm-none-eabi-gcc against the thumbv7em libferrite.a. It loads the int8 keyword spotter and
 * intent classifier from flash, classifies two baked-in FSDD clips and two sentences in static
 * memory, prints the labels over semihosting and exits non-zero on a wrong one or any error. */
#include <stddef.h>
#include <stdint.h>

#include "ferrite.h"

void semihost_puts(const char *s);

extern const uint8_t kws_fer[], kws_fer_end[], intent_fer[], intent_fer_end[];
extern const uint8_t clip_a[], clip_a_end[], clip_b[], clip_b_end[];

/* Model storage and session memory: static, 16-byte aligned (the largest session: intent-lstm). */
static uint8_t storage[2][256] __attribute__((aligned(16)));
static uint8_t session_memory[120 * 1024] __attribute__((aligned(16)));

static size_t length(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int same(const uint8_t *a, size_t n, const char *b) {
    if (length(b) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != (uint8_t)b[i]) return 0;
    return 1;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The 16-bit PCM of a canonical WAV in flash: the "data" chunk after the "fmt " one. */
static const int16_t *wav_pcm(const uint8_t *wav, const uint8_t *end, uint32_t *rate, size_t *n) {
    for (const uint8_t *at = wav + 12; at + 8 <= end;) {
        uint32_t size = le32(at + 4);
        if (at[0] == 'f' && at[1] == 'm' && at[2] == 't') *rate = le32(at + 12);
        if (at[0] == 'd' && at[1] == 'a' && at[2] == 't' && at[3] == 'a') {
            *n = size / 2;
            return (const int16_t *)(at + 8);
        }
        at += 8 + size + (size & 1);
    }
    return 0;
}

/* Prints "what: label (0.NNN) ok|WRONG"; returns 1 when the label is not `want`. */
static int report(const char *what, const FerriteModel *model, size_t label, float score, const char *want) {
    const uint8_t *text = 0;
    size_t n = 0;
    char line[160];
    size_t k = 0;
    if (ferrite_model_label(model, label, &text, &n) != FERRITE_OK) n = 0;
    for (const char *p = what; *p && k < 60; p++) line[k++] = *p;
    line[k++] = ':';
    line[k++] = ' ';
    for (size_t i = 0; i < n && k < 100; i++) line[k++] = (char)text[i];
    int milli = (int)(score * 1000.0f + 0.5f);
    const char tail[] = " (0.000) ";
    for (size_t i = 0; tail[i]; i++) line[k++] = tail[i];
    line[k - 5] = (char)('0' + milli / 100 % 10), line[k - 4] = (char)('0' + milli / 10 % 10);
    line[k - 3] = (char)('0' + milli % 10);
    if (milli >= 1000) line[k - 7] = '1';
    int wrong = !same(text, n, want);
    const char *verdict = wrong ? "WRONG\n" : "ok\n";
    for (size_t i = 0; verdict[i]; i++) line[k++] = verdict[i];
    line[k] = 0;
    semihost_puts(line);
    return wrong;
}

static int check(int32_t st, const char *what) {
    if (st == FERRITE_OK) return 0;
    semihost_puts(what);
    semihost_puts(": ");
    semihost_puts(ferrite_status_message(st));
    semihost_puts("\n");
    return 1;
}

/* Loads the artifact [begin, end) into `store` and creates its session in session_memory. */
static int open(const uint8_t *begin, const uint8_t *end, uint8_t *store, FerriteModel **m, FerriteSession **s) {
    if (ferrite_model_storage_size() > sizeof storage[0]) return check(FERRITE_E_BUFFER, "model storage");
    if (check(ferrite_model_from_memory(begin, (size_t)(end - begin), store, sizeof storage[0], m), "load")) return 1;
    if (ferrite_session_memory_size(*m) > sizeof session_memory) return check(FERRITE_E_BUFFER, "session memory");
    return check(ferrite_session_create(*m, session_memory, sizeof session_memory, s), "session");
}

int main(void) {
    FerriteModel *model;
    FerriteSession *session;
    size_t label;
    float score;
    int wrong = 0;

    if (open(kws_fer, kws_fer_end, storage[0], &model, &session)) return 1;
    const struct { const uint8_t *wav, *end; const char *name, *digit; } clips[] = {
        {clip_a, clip_a_end, "4_jackson_1", "4"}, {clip_b, clip_b_end, "9_yweweler_4", "9"}};
    for (int i = 0; i < 2; i++) {
        uint32_t rate = 0;
        size_t n = 0;
        const int16_t *pcm = wav_pcm(clips[i].wav, clips[i].end, &rate, &n);
        if (!pcm) return check(FERRITE_E_AUDIO, clips[i].name);
        if (check(ferrite_classify_pcm16(session, pcm, n, rate, &label, &score), clips[i].name)) return 1;
        wrong += report(clips[i].name, model, label, score, clips[i].digit);
    }
    ferrite_model_free(model);

    if (open(intent_fer, intent_fer_end, storage[1], &model, &session)) return 1;
    const char *sentences[][2] = {{"will it rain in paris tomorrow", "GetWeather"},
                                  {"book a table for two at an italian restaurant", "BookRestaurant"}};
    for (int i = 0; i < 2; i++) {
        const char *t = sentences[i][0];
        if (check(ferrite_classify_text(session, t, length(t), &label, &score), t)) return 1;
        wrong += report(t, model, label, score, sentences[i][1]);
    }
    ferrite_model_free(model);
    semihost_puts(wrong ? "wrong labels\n" : "all labels right\n");
    return wrong ? 1 : 0;
}
