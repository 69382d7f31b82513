// C side of the aarch64 cross-check: reads the host's golden log (written by the host test
// Arm64GoldenTests), runs the Embedded Swift build of the same scenarios, and compares record by
// record: integers exactly, floats within 1e-6 relative. Exit status 0 only if everything agrees.
// Log format: see Tests/QuantKernelsTests/Arm64/KernelScenarios.swift.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern uint8_t *qw_kernel_results(long *length, long *records);

typedef struct {
    const uint8_t *p, *end;
} Cursor;

typedef struct {
    unsigned kind, size;
    uint32_t tag, count;
    const char *name;
    uint32_t nameLength;
    const uint8_t *payload;
} Record;

static uint32_t read32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

/// Parses one record; 0 at the end, -1 on a malformed log.
static int next(Cursor *c, Record *r) {
    if (c->p == c->end) return 0;
    if (c->end - c->p < 14) return -1;
    r->kind = c->p[0];
    r->size = c->p[1];
    r->tag = read32(c->p + 2);
    r->nameLength = read32(c->p + 6);
    c->p += 10;
    if ((size_t)(c->end - c->p) < r->nameLength + 4) return -1;
    r->name = (const char *)c->p;
    c->p += r->nameLength;
    r->count = read32(c->p);
    c->p += 4;
    if (r->size == 0 || r->size > 8 || (size_t)(c->end - c->p) / r->size < r->count) return -1;
    r->payload = c->p;
    c->p += (size_t)r->size * r->count;
    return 1;
}

static int64_t integer(const uint8_t *p, unsigned size) {
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
    if (size < 8 && (v >> (8 * size - 1)) & 1) v |= ~0ULL << (8 * size);   // sign-extend (all stored types print fine signed)
    return (int64_t)v;
}

static float floatAt(const uint8_t *p) {
    uint32_t bits = read32(p);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s GOLDEN LABEL\n", argv[0]);
        return 2;
    }
    const char *label = argv[2];
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        fprintf(stderr, "[%s] cannot open golden file %s\n", label, argv[1]);
        return 2;
    }
    fseek(file, 0, SEEK_END);
    long goldenLength = ftell(file);
    fseek(file, 0, SEEK_SET);
    uint8_t *golden = malloc(goldenLength > 0 ? goldenLength : 1);
    if (fread(golden, 1, goldenLength, file) != (size_t)goldenLength) {
        fprintf(stderr, "[%s] cannot read %s\n", label, argv[1]);
        return 2;
    }
    fclose(file);

    long length = 0, recordCount = 0;
    uint8_t *mine = qw_kernel_results(&length, &recordCount);
    const char *dump = getenv("QW_ARM64_DUMP");   // debugging: keep this build's own log
    if (dump) {
        FILE *out = fopen(dump, "wb");
        if (out) {
            fwrite(mine, 1, length, out);
            fclose(out);
        }
    }

    Cursor g = {golden, golden + goldenLength}, m = {mine, mine + length};
    long records = 0, integers = 0, floats = 0, floatsNotIdentical = 0, failures = 0, reported = 0;
    double worst = 0;
    for (;;) {
        Record a, b;
        int ra = next(&g, &a), rb = next(&m, &b);
        if (ra < 0 || rb < 0) {
            fprintf(stderr, "[%s] FAIL: malformed %s log after %ld records\n", label, ra < 0 ? "golden" : "aarch64", records);
            return 1;
        }
        if (ra == 0 && rb == 0) break;
        if (ra == 0 || rb == 0 || a.kind != b.kind || a.size != b.size || a.tag != b.tag || a.count != b.count ||
            a.nameLength != b.nameLength || memcmp(a.name, b.name, a.nameLength) != 0) {
            fprintf(stderr, "[%s] FAIL: record %ld differs in shape (golden: %.*s #%u, %u values; aarch64: %.*s #%u, %u values) — "
                            "the golden file is stale or the scenarios diverged\n",
                    label, records, ra ? (int)a.nameLength : 3, ra ? a.name : "end", ra ? a.tag : 0, ra ? a.count : 0,
                    rb ? (int)b.nameLength : 3, rb ? b.name : "end", rb ? b.tag : 0, rb ? b.count : 0);
            return 1;
        }
        long bad = 0;
        for (uint32_t i = 0; i < a.count; i++) {
            const uint8_t *pa = a.payload + (size_t)i * a.size, *pb = b.payload + (size_t)i * b.size;
            if (a.kind == 0) {
                integers++;
                if (memcmp(pa, pb, a.size) != 0) {
                    if (reported < 20)
                        fprintf(stderr, "[%s] FAIL: %.*s #%u [%u]: x86-64 %lld, aarch64 %lld\n", label, (int)a.nameLength, a.name,
                                a.tag, i, (long long)integer(pa, a.size), (long long)integer(pb, b.size));
                    reported++;
                    bad++;
                }
            } else {
                floats++;
                float x = floatAt(pa), y = floatAt(pb);
                if (memcmp(pa, pb, 4) == 0 || (isnan(x) && isnan(y))) continue;
                floatsNotIdentical++;
                double scale = fmax(fabs((double)x), fabs((double)y));
                double relative = fabs((double)x - (double)y) / scale;
                if (relative > worst || isnan(relative)) worst = isnan(relative) ? INFINITY : relative;
                if (!(relative <= 1e-6)) {
                    if (reported < 20)
                        fprintf(stderr, "[%s] FAIL: %.*s #%u [%u]: x86-64 %.9g, aarch64 %.9g (relative %.3g)\n", label,
                                (int)a.nameLength, a.name, a.tag, i, x, y, relative);
                    reported++;
                    bad++;
                }
            }
        }
        if (bad) failures++;
        records++;
    }
    if (records != recordCount) {
        fprintf(stderr, "[%s] FAIL: parsed %ld records, the driver reported %ld\n", label, records, recordCount);
        return 1;
    }
    if (failures) {
        fprintf(stderr, "[%s] FAIL: %ld of %ld records differ from the x86-64 golden outputs (%ld values)\n", label, failures,
                records, reported);
        return 1;
    }
    printf("[%s] ok: %ld records, %ld integers identical, %ld floats (%ld not bit-identical, worst relative %.3g)\n", label,
           records, integers, floats, floatsNotIdentical, worst);
    return 0;
}
