/* Classifies a WAV file or a sentence with a Ferrite artifact through the C API, and checks the
 * label when one is expected:
 *
 *   classify MODEL.fer --wav FILE.wav [EXPECTED]     16-bit mono PCM at the model's rate
 *   classify MODEL.fer --text "SENTENCE" [EXPECTED]
 *   classify MODEL.fer --stream FILE.wav ["L1 L2 ..."]   keyword stream: every detection, in order
 *
 * The artifact is read into 64-byte aligned memory and loaded with ferrite_model_from_memory (as
 * firmware does); FERRITE_OPEN=1 maps it with ferrite_model_open instead (hosts). Exit status: 0
 * when the label is the expected one (or none is expected), 1 when it is not, 2 on an error.
 * Build: see the top-level README (gcc, -DFERRITE_STD, libferrite.a). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrite.h"

static int fail(const char *what, int32_t status) {
    fprintf(stderr, "classify: %s: %s (status %d)\n", what, ferrite_status_message(status), (int)status);
    return 2;
}

/* The whole file in memory aligned to `align` bytes (NULL on error). */
static uint8_t *read_file(const char *path, size_t align, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? aligned_alloc(align, ((size_t)n + align - 1) / align * align) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The samples of a 16-bit mono PCM WAV (points into `wav`), or NULL. */
static const int16_t *wav_pcm(const uint8_t *wav, size_t len, uint32_t *rate, size_t *n) {
    if (len < 12 || memcmp(wav, "RIFF", 4) || memcmp(wav + 8, "WAVE", 4)) return NULL;
    int fmt_ok = 0;
    for (size_t at = 12; at + 8 <= len;) {
        uint32_t size = le32(wav + at + 4);
        if (size > len - at - 8) return NULL;
        if (!memcmp(wav + at, "fmt ", 4) && size >= 16) {
            const uint8_t *f = wav + at + 8;
            fmt_ok = (f[0] | f[1] << 8) == 1 && (f[2] | f[3] << 8) == 1 && (f[14] | f[15] << 8) == 16;
            *rate = le32(f + 4);
        } else if (!memcmp(wav + at, "data", 4) && fmt_ok) {
            *n = size / 2;
            return (const int16_t *)(wav + at + 8); /* little-endian host, 2-byte aligned offset */
        }
        at += 8 + size + (size & 1);
    }
    return NULL;
}

/* Feeds the WAV at `path` to a keyword stream in chunks of 1024 samples, as a microphone would,
 * prints each detection and checks the labels against `expected` (space-separated; NULL: any). */
static int stream_wav(const FerriteModel *model, const char *path, const char *expected) {
    FerriteStreamParams params;
    int32_t st = ferrite_stream_defaults(model, &params);
    if (st != FERRITE_OK) return fail("stream", st);
    size_t mem_len = ferrite_stream_memory_size(model, &params);
    void *mem = aligned_alloc(16, (mem_len + 15) / 16 * 16);
    FerriteStream *stream = NULL;
    if ((st = ferrite_stream_create(model, &params, mem, mem_len, &stream)) != FERRITE_OK) return fail("stream", st);
    size_t wav_len = 0, n = 0;
    uint32_t rate = 0;
    uint8_t *wav = read_file(path, 16, &wav_len);
    const int16_t *pcm = wav ? wav_pcm(wav, wav_len, &rate, &n) : NULL;
    if (!pcm) return fail(path, FERRITE_E_AUDIO);
    char heard[256] = "";
    size_t heard_len = 0;
    for (size_t at = 0; at < n;) {
        size_t chunk = n - at < 1024 ? n - at : 1024, taken = 0;
        int32_t fired = 0;
        FerriteDetection d;
        if ((st = ferrite_stream_push(stream, pcm + at, chunk, &taken, &fired, &d)) != FERRITE_OK) return fail("push", st);
        at += taken;
        if (!fired) continue;
        const uint8_t *text = NULL;
        size_t text_len = 0;
        if ((st = ferrite_model_label(model, d.label, &text, &text_len)) != FERRITE_OK) return fail("label", st);
        printf("%.2f-%.2f s %.*s %.4f\n", d.start / (double)rate, d.end / (double)rate, (int)text_len,
               (const char *)text, d.score);
        if (heard_len + text_len + 2 < sizeof heard) {
            heard_len += (size_t)snprintf(heard + heard_len, sizeof heard - heard_len, "%s%.*s", heard_len ? " " : "",
                                          (int)text_len, (const char *)text);
        }
    }
    int ok = !expected || !strcmp(expected, heard);
    if (!ok) fprintf(stderr, "classify: heard \"%s\", expected \"%s\"\n", heard, expected);
    free(wav);
    free(mem);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[2], "--wav") && strcmp(argv[2], "--text") && strcmp(argv[2], "--stream"))) {
        fprintf(stderr, "usage: classify MODEL.fer --wav FILE.wav|--text SENTENCE|--stream FILE.wav [EXPECTED]\n");
        return 2;
    }
    FerriteModel *model = NULL;
    size_t art_len = 0;
    uint8_t *art = NULL, *storage = NULL;
    int32_t st;
    if (getenv("FERRITE_OPEN")) {
        st = ferrite_model_open(argv[1], &model);
    } else {
        art = read_file(argv[1], 64, &art_len);
        if (!art) return fail(argv[1], FERRITE_E_IO);
        storage = aligned_alloc(16, (ferrite_model_storage_size() + 15) / 16 * 16);
        st = ferrite_model_from_memory(art, art_len, storage, ferrite_model_storage_size(), &model);
    }
    if (st != FERRITE_OK) return fail(argv[1], st);
    if (!strcmp(argv[2], "--stream")) {
        int r = stream_wav(model, argv[3], argc > 4 ? argv[4] : NULL);
        ferrite_model_free(model);
        free(storage);
        free(art);
        return r;
    }

    size_t mem_len = ferrite_session_memory_size(model);
    void *mem = aligned_alloc(16, (mem_len + 15) / 16 * 16);
    FerriteSession *session = NULL;
    if ((st = ferrite_session_create(model, mem, mem_len, &session)) != FERRITE_OK) return fail("session", st);

    size_t label = 0;
    float score = 0;
    if (!strcmp(argv[2], "--wav")) {
        size_t wav_len = 0, n = 0;
        uint32_t rate = 0;
        uint8_t *wav = read_file(argv[3], 16, &wav_len);
        const int16_t *pcm = wav ? wav_pcm(wav, wav_len, &rate, &n) : NULL;
        if (!pcm) return fail(argv[3], FERRITE_E_AUDIO);
        st = ferrite_classify_pcm16(session, pcm, n, rate, &label, &score);
        free(wav);
    } else {
        st = ferrite_classify_text(session, argv[3], strlen(argv[3]), &label, &score);
    }
    if (st != FERRITE_OK) return fail("classify", st);

    const uint8_t *text = NULL;
    size_t text_len = 0;
    if ((st = ferrite_model_label(model, label, &text, &text_len)) != FERRITE_OK) return fail("label", st);
    printf("%.*s %.4f\n", (int)text_len, (const char *)text, score);
    int ok = argc < 5 || (strlen(argv[4]) == text_len && !memcmp(argv[4], text, text_len));
    if (!ok) fprintf(stderr, "classify: expected %s\n", argv[4]);

    ferrite_model_free(model);
    free(mem);
    free(storage);
    free(art);
    return ok ? 0 : 1;
}
