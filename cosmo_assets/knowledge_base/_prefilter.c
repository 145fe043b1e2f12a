/* The Wikidata scan's byte tests and slimming, compiled: what wikidata_scan.BlockScanner does to every line,
 * without the Python interpreter's cost per line (three quarters of the scan's time in Python).
 *
 * For each line of a block in the dump's own layout (`{...},`) it reads the id, cuts the labels of the plan's
 * languages out of the labels object and, when every domain filters on classes, reads the instance-of classes
 * from the P31 claim, and so settles lexemes, properties and lines outside every domain, which are most of a
 * full dump. A line naming a domain's class is then checked as JSON and slimmed to the row seeds read (the
 * texts of the plan's languages and the chosen values of its properties, as they stand in the line). It
 * answers only when it reads a line exactly as the Python scanner would; a line in any other layout, or one
 * it cannot settle, is handed back to the Python scanner (which does the same work in general form), so the
 * two give the same extract (test_wikidata_prefilter.py). Nothing here allocates per line but what is kept.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ID_WINDOW 300
#define LABELS_WINDOW (ID_WINDOW + 200)
#define REDIRECT_BYTES 1000
#define MAX_LANGUAGES 64
#define MAX_NAMES 1024 /* classes, properties */
#define MAX_DEPTH 64

/* What Python is asked to do with a line. */
#define WHOLE_LINE 0 /* every test, from the line's shape on */
#define AFTER_LABELS 1 /* the tests after the labels (redirect, classes, parse): its id and labels are done */
#define CANDIDATE 2 /* as AFTER_LABELS, but its P31 claim, in the dump's layout, names a domain's class */
#define SLIMMED 3 /* a candidate slimmed here: its row's id, classes, refs and entity JSON */

typedef struct {
    const char *bytes[MAX_NAMES];
    Py_ssize_t size[MAX_NAMES];
    int count;
} Names;

static const char *find(const char *from, const char *to, const char *needle, size_t size) {
    if (to - from < (Py_ssize_t)size) return NULL;
    return memmem(from, to - from, needle, size);
}

static int starts(const char *at, const char *to, const char *literal, size_t size) {
    return to - at >= (Py_ssize_t)size && memcmp(at, literal, size) == 0;
}

#define STARTS(at, to, lit) starts((at), (to), (lit), sizeof(lit) - 1)
/* Steps `p` over the literal if it stands there, else returns 0 from the function. */
#define EAT(p, to, lit)                        \
    do {                                       \
        if (!STARTS((p), (to), (lit))) return 0; \
        (p) += sizeof(lit) - 1;                \
    } while (0)
#define FIND(from, to, lit) find((from), (to), (lit), sizeof(lit) - 1)

/* The id of the line [a, b) as wikidata_scan._entity_id reads it in the usual case: the first `"id":"` in
 * the first ID_WINDOW bytes, then [QPL][0-9]+ and a quote within 40 bytes of it. 0 when it is not so. */
static int entity_id(const char *a, const char *b, const char **id, Py_ssize_t *size) {
    const char *window = b - a < ID_WINDOW ? b : a + ID_WINDOW;
    const char *at = FIND(a, window, "\"id\":\"");
    if (!at) return 0;
    const char *v = at + sizeof("\"id\":\"") - 1, *limit = at + 40 < b ? at + 40 : b;
    const char *close = v < limit ? memchr(v, '"', limit - v) : NULL;
    if (!close || close - v < 2 || (*v != 'Q' && *v != 'P' && *v != 'L')) return 0;
    for (const char *c = v + 1; c < close; c++)
        if (*c < '0' || *c > '9') return 0;
    *id = v;
    *size = close - v;
    return 1;
}

/* Bytes that stand for themselves in a JSON string (not a quote, a backslash or a control byte). */
static unsigned char ORDINARY[256];

/* Eight bytes at a time: whether a word holds a byte below n (n <= 128), or a given byte. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline int has_below(uint64_t word, unsigned n) { return ((word - ONES * n) & ~word & HIGHS) != 0; }
static inline int has_byte(uint64_t word, unsigned char c) { return has_below(word ^ (ONES * c), 1); }
static inline uint64_t word_at(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return word;
}

/* A JSON string's body from `p` (after its opening quote) to its closing quote, checked as msgspec would
 * at least: no control bytes, escapes well formed (a surrogate escape is left to Python). The closing quote,
 * or NULL. */
static const char *string_end(const char *p, const char *to) {
    const unsigned char *u = (const unsigned char *)p, *end = (const unsigned char *)to;
    while (1) {
        while (end - u >= 8) {
            uint64_t word = word_at(u);
            if (has_byte(word, '"') || has_byte(word, '\\') || has_below(word, 0x20)) break;
            u += 8;
        }
        while (u < end && ORDINARY[*u]) u++;
        if (u >= end) return NULL;
        if (*u == '"') return (const char *)u;
        if (*u != '\\' || end - u < 2) return NULL; /* a control byte */
        unsigned char e = u[1];
        if (e == 'u') {
            if (end - u < 6) return NULL;
            int code = 0;
            for (int i = 2; i < 6; i++) {
                unsigned char h = u[i];
                int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (v < 0) return NULL;
                code = code * 16 + v;
            }
            if (code >= 0xD800 && code <= 0xDFFF) return NULL;
            u += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            u += 2;
        } else {
            return NULL;
        }
    }
}

/* The labels object whose entries start at `p` and whose closing brace is at `close`, walked entry by entry
 * in the dump's layout: "xx":{"language":"xx","value":"..."}. The plan's entries go to `entry`/`entry_size`
 * (by language). 1 when the object is exactly so, 0 when Python should read it. */
static int label_entries(const char *p, const char *close, const Names *languages, const char **entry, Py_ssize_t *entry_size) {
    if (p == close) return 1; /* {} */
    while (1) {
        if (p >= close || *p != '"') return 0;
        const char *code = p + 1, *c = code;
        while (c < close && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) c++;
        Py_ssize_t code_size = c - code;
        const char *start = c + 2; /* the entry's own object, after the code's quote and the colon */
        if (code_size == 0) return 0;
        EAT(c, close, "\":{\"language\":\"");
        if (close - c < code_size || memcmp(c, code, code_size) != 0) return 0;
        c += code_size;
        EAT(c, close, "\",\"value\":\"");
        const char *quote = string_end(c, close);
        if (!quote || !STARTS(quote, close + 1, "\"}")) return 0;
        const char *after = quote + 2;
        for (int i = 0; i < languages->count; i++) {
            if (languages->size[i] == code_size && memcmp(languages->bytes[i], code, code_size) == 0) {
                if (entry[i]) return 0; /* a language twice: Python's decoder says which wins */
                entry[i] = start;
                entry_size[i] = after - start;
                break;
            }
        }
        if (after == close) return 1;
        if (after > close || *after != ',') return 0;
        p = after + 1;
    }
}

/* A growing buffer of label rows. */
typedef struct {
    char *bytes;
    Py_ssize_t size, capacity;
} Rows;

static int reserve(Rows *rows, Py_ssize_t more) {
    if (rows->size + more <= rows->capacity) return 1;
    Py_ssize_t capacity = rows->capacity ? rows->capacity : 1 << 16;
    while (capacity < rows->size + more) capacity *= 2;
    char *bytes = PyMem_Realloc(rows->bytes, capacity);
    if (!bytes) {
        PyErr_NoMemory();
        return 0;
    }
    rows->bytes = bytes;
    rows->capacity = capacity;
    return 1;
}

/* Whether [p, end) is valid UTF-8 as Python's strict decoder reads it (no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static int valid_utf8(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
        while (end - p >= 8 && !(word_at(p) & HIGHS)) p += 8; /* ASCII */
        if (p >= end) break;
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int more;
        unsigned int low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, low = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) more = 2;
        else if (c == 0xED) more = 2, high = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) more = 2;
        else if (c == 0xF0) more = 3, low = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else if (c == 0xF4) more = 3, high = 0x8F;
        else return 0;
        if (end - p <= more || p[1] < low || p[1] > high) return 0;
        for (int i = 2; i <= more; i++)
            if (p[i] < 0x80 || p[i] > 0xBF) return 0;
        p += more + 1;
    }
    return 1;
}

/* The labels of the plan's languages appended to `rows` as a row "id<TAB>line<TAB>{...JSON...}\n" (nothing
 * when the line has none of them): 1. 0 (rows as they were, no exception) when Python should read them; -1
 * with an exception set. */
static int labels_of(const char *a, const char *b, const Names *languages, const char *id, Py_ssize_t id_size,
                     long long line, Rows *rows) {
    const char *window = b - a < LABELS_WINDOW ? b : a + LABELS_WINDOW;
    const char *key = FIND(a, window, "\"labels\":{");
    if (!key) return 0;
    const char *start = key + sizeof("\"labels\":{") - 1;
    const char *end = FIND(start, b, "},\"descriptions\":");
    if (!end) return 0;
    const char *entry[MAX_LANGUAGES] = {0};
    Py_ssize_t entry_size[MAX_LANGUAGES] = {0};
    if (!label_entries(start, end, languages, entry, entry_size)) return 0;
    Py_ssize_t total = id_size + 24 + 3;
    int kept = 0;
    for (int i = 0; i < languages->count; i++)
        if (entry[i]) {
            total += languages->size[i] + 4 + entry_size[i];
            kept++;
        }
    if (!kept) return 1;
    if (!reserve(rows, total)) return -1;
    char *w = rows->bytes + rows->size;
    memcpy(w, id, id_size);
    w += id_size;
    w += sprintf(w, "\t%lld\t{", line);
    char *text = w - 1;
    kept = 0;
    for (int i = 0; i < languages->count; i++) {
        if (!entry[i]) continue;
        if (kept++) *w++ = ',';
        *w++ = '"';
        memcpy(w, languages->bytes[i], languages->size[i]);
        w += languages->size[i];
        *w++ = '"';
        *w++ = ':';
        memcpy(w, entry[i], entry_size[i]);
        w += entry_size[i];
    }
    *w++ = '}';
    if (!valid_utf8((const unsigned char *)text, (const unsigned char *)w)) return 0; /* Python's reading says what to keep */
    *w++ = '\n';
    rows->size = w - rows->bytes;
    return 1;
}

/* One P31 statement at `at` (its `{"mainsnak":`), bounded by `end`, as wikidata_scan._P31_STATEMENT and
 * _P31_NO_VALUE read it: 1 with its numeric id in `digits`, 2 for "no value"/"unknown value", 0 otherwise. */
static int p31_statement(const char *at, const char *end, const char **digits, Py_ssize_t *size) {
    const char *p = at;
    EAT(p, end, "{\"mainsnak\":{\"snaktype\":\"");
    if (STARTS(p, end, "novalue\"") || STARTS(p, end, "somevalue\"")) {
        p += *p == 'n' ? sizeof("novalue\"") - 1 : sizeof("somevalue\"") - 1;
        EAT(p, end, ",\"property\":\"P31\"");
        return p < end && (*p == ',' || *p == '}') ? 2 : 0;
    }
    EAT(p, end, "value\",\"property\":\"P31\",");
    if (STARTS(p, end, "\"hash\":\"")) {
        p += sizeof("\"hash\":\"") - 1;
        while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) p++;
        EAT(p, end, "\",");
    }
    if (STARTS(p, end, "\"datatype\":\"wikibase-item\",")) p += sizeof("\"datatype\":\"wikibase-item\",") - 1;
    EAT(p, end, "\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"numeric-id\":");
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    if (p == d) return 0;
    Py_ssize_t n = p - d;
    if (STARTS(p, end, ",\"id\":\"Q") && end - (p + 8) > n && memcmp(p + 8, d, n) == 0 && p[8 + n] == '"') p += 9 + n;
    if (p >= end || *p != '}') return 0;
    *digits = d;
    *size = n;
    return 1;
}

/* Whether the line names a class of the plan in its P31 claim (1 or 0), or -1 when Python should look. */
static int names_a_class(const char *a, const char *b, const Names *classes) {
    static const char claim_key[] = "\"P31\":[{\"mainsnak\":";
    const char *claim = FIND(a, b, claim_key);
    if (!claim) return -1;
    const char *end = FIND(claim + sizeof(claim_key) - 1, b, "\":[{\"mainsnak\":");
    if (!end) end = b;
    int found = 0;
    const char *at = claim + sizeof(claim_key) - 1 - 12; /* its first {"mainsnak": */
    while (at) {
        const char *following = FIND(at + 12, end, "{\"mainsnak\":");
        const char *digits;
        Py_ssize_t size;
        int kind = p31_statement(at, end, &digits, &size);
        if (kind == 0) return -1;
        if (kind == 1)
            for (int i = 0; i < classes->count; i++)
                if (classes->size[i] == size && memcmp(classes->bytes[i], digits, size) == 0) found = 1;
        at = following;
    }
    return found;
}

static int names_from(PyObject *tuple, Names *names, int limit, const char *what) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > limit) {
        PyErr_Format(PyExc_ValueError, "%s: expected a tuple of at most %d bytes", what, limit);
        return 0;
    }
    names->count = (int)PyTuple_GET_SIZE(tuple);
    for (int i = 0; i < names->count; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s: expected bytes", what);
            return 0;
        }
        names->bytes[i] = PyBytes_AS_STRING(item);
        names->size[i] = PyBytes_GET_SIZE(item);
    }
    return 1;
}

static int append_new(PyObject *list, PyObject *item) {
    if (!item) return -1;
    int failed = PyList_Append(list, item);
    Py_DECREF(item);
    return failed;
}

/* ---- A candidate slimmed as wikidata_scan.BlockScanner._slim_decoded does ----
 * The whole line is checked as JSON (as strictly as msgspec, or more), and only what seeds read is cut out as
 * it stands: the texts of the plan's languages and the chosen datavalues of the plan's properties. Whatever
 * Python's decoding could read otherwise (an escaped or repeated key, a number past 18 digits or with a
 * 3-digit exponent, a field of another type than dumps write) is left to it. */

typedef struct {
    const char *start, *end;
} Span;

typedef struct {
    int preferred, deprecated, value; /* value: a mainsnak whose snaktype is "value" */
    Span datavalue;                   /* empty: absent, or a falsy value (null, false, "", [], {}) */
} Statement;

typedef struct {
    Rows text;         /* the entity JSON being written */
    Statement *statements;
    Py_ssize_t used, capacity;
} Slimmer;

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *skip_value(const char *p, const char *end, int depth);

/* A key at `p` (its opening quote): its body in `key`, and what follows its colon; NULL for an escaped key. */
static const char *plain_string(const char *p, const char *end, Span *body);

static const char *object_key(const char *p, const char *end, Span *key) {
    p = plain_string(p, end, key);
    p = p ? skip_ws(p, end) : NULL;
    if (!p || p >= end || *p != ':') return NULL;
    return skip_ws(p + 1, end);
}

/* After a member's value: past a comma (1) or the closing `close` (0, `*at` past it); -1 otherwise. */
static int next_member(const char **at, const char *end, char close) {
    const char *p = skip_ws(*at, end);
    if (p < end && *p == ',') {
        *at = skip_ws(p + 1, end);
        return 1;
    }
    if (p < end && *p == close) {
        *at = p + 1;
        return 0;
    }
    return -1;
}

/* Walks an object's members: `p` starts at its '{'; each member() gives the next key (an escaped key refused)
 * and leaves `p` at its value, which the caller steps over before asking for the next. 1: a member; 0: the
 * end, `p` past the '}'; -1: not an object, or not JSON. */
typedef struct {
    const char *p, *end;
    int started;
} Walk;

static int member(Walk *w, Span *key) {
    if (!w->started) {
        w->started = 1;
        if (w->p >= w->end || *w->p != '{') return -1;
        w->p = skip_ws(w->p + 1, w->end);
        if (w->p < w->end && *w->p == '}') {
            w->p++;
            return 0;
        }
    } else {
        int more = next_member(&w->p, w->end, '}');
        if (more <= 0) return more;
    }
    w->p = object_key(w->p, w->end, key);
    return w->p ? 1 : -1;
}

static const char *skip_number(const char *p, const char *end) {
    const char *digits_from = p;
    if (p < end && *p == '-') p++, digits_from++;
    if (p >= end) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < end && *p >= '0' && *p <= '9') p++;
    else return NULL;
    Py_ssize_t digits = p - digits_from;
    if (p < end && *p == '.') {
        const char *f = ++p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == f) return NULL;
        digits += p - f;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *e = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == e || p - e > 2) return NULL;
    }
    return digits > 18 ? NULL : p;
}

static const char *skip_value(const char *p, const char *end, int depth) {
    if (p >= end || depth > MAX_DEPTH) return NULL;
    switch (*p) {
    case '{': {
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}') return p + 1;
        while (1) {
            if (p >= end || *p != '"') return NULL;
            const char *close = string_end(p + 1, end);
            if (!close) return NULL;
            p = skip_ws(close + 1, end);
            if (p >= end || *p != ':') return NULL;
            p = skip_value(skip_ws(p + 1, end), end, depth + 1);
            if (!p) return NULL;
            int more = next_member(&p, end, '}');
            if (more < 0) return NULL;
            if (!more) return p;
        }
    }
    case '[': {
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') return p + 1;
        while (1) {
            p = skip_value(p, end, depth + 1);
            if (!p) return NULL;
            int more = next_member(&p, end, ']');
            if (more < 0) return NULL;
            if (!more) return p;
        }
    }
    case '"': {
        const char *close = string_end(p + 1, end);
        return close ? close + 1 : NULL;
    }
    case 't': return STARTS(p, end, "true") ? p + 4 : NULL;
    case 'f': return STARTS(p, end, "false") ? p + 5 : NULL;
    case 'n': return STARTS(p, end, "null") ? p + 4 : NULL;
    default: return skip_number(p, end);
    }
}

static int index_of(const Names *names, const Span *key) {
    for (int i = 0; i < names->count; i++)
        if (names->size[i] == key->end - key->start && memcmp(names->bytes[i], key->start, names->size[i]) == 0) return i;
    return -1;
}

/* A plain string value (no escapes) at `p`: its body in `body`, what follows it returned; NULL otherwise. */
static const char *plain_string(const char *p, const char *end, Span *body) {
    if (p >= end || *p != '"') return NULL;
    const char *close = string_end(p + 1, end);
    if (!close || memchr(p + 1, '\\', close - p - 1)) return NULL;
    body->start = p + 1;
    body->end = close;
    return close + 1;
}

/* The object at `p`'s members under `keys` (as their value spans; absent: start NULL); what follows the object,
 * or NULL when Python should read it (not an object, a key escaped or repeated, anything not JSON). */
static const char *members(const char *p, const char *end, const Names *keys, Span *found) {
    for (int i = 0; i < keys->count; i++) found[i].start = found[i].end = NULL;
    Walk object = {p, end, 0};
    Span key;
    int more;
    while ((more = member(&object, &key)) > 0) {
        const char *value = object.p;
        if (!(object.p = skip_value(value, end, 1))) return NULL;
        int i = index_of(keys, &key);
        if (i >= 0) {
            if (found[i].start) return NULL;
            found[i].start = value;
            found[i].end = object.p;
        }
    }
    return more < 0 ? NULL : object.p;
}

static Names names_of(int count, const char *const *literals) {
    Names names;
    names.count = count;
    for (int i = 0; i < count; i++) {
        names.bytes[i] = literals[i];
        names.size[i] = (Py_ssize_t)strlen(literals[i]);
    }
    return names;
}

static const char *const DATAVALUE_KEYS[] = {"type", "value"};
static const char *const ITEM_KEYS[] = {"id", "numeric-id"};
static const char *const QUANTITY_KEYS[] = {"unit"};
static Names datavalue_keys, item_keys, quantity_keys;

static int span_is(const Span *span, const char *literal, size_t size) {
    return span->start && (size_t)(span->end - span->start) == size && memcmp(span->start, literal, size) == 0;
}
#define SPAN_IS(span, lit) span_is((span), (lit), sizeof(lit) - 1)

static int put(Rows *rows, const char *bytes, Py_ssize_t size) {
    if (!reserve(rows, size)) return -1;
    memcpy(rows->bytes + rows->size, bytes, size);
    rows->size += size;
    return 0;
}
#define PUT(rows, lit) put((rows), (lit), sizeof(lit) - 1)

/* A falsy JSON value (Python's `or {}` replaces it): null, false, "", [] or {}. Numbers never come here. */
static int falsy(const Span *v) {
    const char *p = v->start;
    if (*p == 'n' || *p == 'f') return 1;
    if (*p == '"') return v->end - p == 2;
    if (*p == '[' || *p == '{') return skip_ws(p + 1, v->end) == v->end - 1;
    return 0;
}

/* The item a datavalue names, as wikidata_scan._item_ref (quantity: 0) or _value_ref (quantity: 1) read it:
 * 1 with a new str in *ref, 0 for none, -1 when Python should read it, -2 with an exception set. */
static int item_named(const Span *dv, int quantity, PyObject **ref) {
    static const char uri[] = "http://www.wikidata.org/entity/";
    Span parts[2], fields[2];
    *ref = NULL;
    if (*dv->start != '{') return 0;
    if (!members(dv->start, dv->end, &datavalue_keys, parts)) return -1;
    Span kind;
    if (!parts[0].start) return 0;
    if (!plain_string(parts[0].start, parts[0].end, &kind)) return -1; /* a type of another kind: Python says */
    if (!parts[1].start || *parts[1].start != '{') return 0;
    if (SPAN_IS(&kind, "wikibase-entityid")) {
        if (!members(parts[1].start, parts[1].end, &item_keys, fields)) return -1;
        Span id;
        if (fields[0].start && !SPAN_IS(&fields[0], "null")) {
            if (!plain_string(fields[0].start, fields[0].end, &id)) return -1;
            if (id.end > id.start) {
                *ref = PyUnicode_DecodeUTF8(id.start, id.end - id.start, NULL);
                return *ref ? 1 : -2;
            }
        }
        if (!fields[1].start) return 0;
        for (const char *d = fields[1].start; d < fields[1].end; d++)
            if (*d < '0' || *d > '9') return -1;
        char qid[24];
        Py_ssize_t digits = fields[1].end - fields[1].start;
        if (digits > 20) return -1;
        qid[0] = 'Q';
        memcpy(qid + 1, fields[1].start, digits);
        *ref = PyUnicode_FromStringAndSize(qid, digits + 1);
        return *ref ? 1 : -2;
    }
    if (quantity && SPAN_IS(&kind, "quantity")) {
        if (!members(parts[1].start, parts[1].end, &quantity_keys, fields)) return -1;
        Span unit;
        if (!fields[0].start) return 0;
        if (!plain_string(fields[0].start, fields[0].end, &unit)) return -1;
        if (SPAN_IS(&unit, "1")) return 0;
        if (unit.end - unit.start >= (Py_ssize_t)sizeof(uri) - 1 && memcmp(unit.start, uri, sizeof(uri) - 1) == 0) unit.start += sizeof(uri) - 1;
        *ref = PyUnicode_DecodeUTF8(unit.start, unit.end - unit.start, NULL);
        return *ref ? 1 : -2;
    }
    return 0;
}

/* The statements of one claim, from `p` (its array): each recorded in the slimmer (`first`, `count`); what
 * follows the array, or NULL when Python should read it. Walked once: each statement's members are found as
 * it is checked, references and qualifiers skipped. */
static const char *statements_of(const char *p, const char *end, Slimmer *s, Py_ssize_t *count) {
    *count = 0;
    if (p >= end || *p != '[') return NULL;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    while (1) {
        if (p >= end || *p != '{') return NULL;
        if (s->used == s->capacity) {
            Py_ssize_t capacity = s->capacity ? 2 * s->capacity : 256;
            Statement *grown = PyMem_Realloc(s->statements, capacity * sizeof(Statement));
            if (!grown) return NULL; /* Python will fail the same way, with a message */
            s->statements = grown;
            s->capacity = capacity;
        }
        Statement *st = &s->statements[s->used];
        memset(st, 0, sizeof(*st));
        int seen_snak = 0, seen_rank = 0, more;
        Walk statement = {p, end, 0};
        Span key;
        while ((more = member(&statement, &key)) > 0) {
            const char *value = statement.p;
            if (SPAN_IS(&key, "mainsnak")) {
                if (seen_snak++) return NULL;
                if (STARTS(value, end, "null")) {
                    statement.p += 4;
                    continue;
                }
                int seen_type = 0, seen_value = 0;
                Walk snak = {value, end, 0};
                Span field;
                while ((more = member(&snak, &field)) > 0) {
                    const char *at = snak.p;
                    if (!(snak.p = skip_value(at, end, 5))) return NULL;
                    if (SPAN_IS(&field, "snaktype")) {
                        Span kind;
                        if (seen_type++ || !plain_string(at, snak.p, &kind)) return NULL;
                        st->value = SPAN_IS(&kind, "value");
                    } else if (SPAN_IS(&field, "datavalue")) {
                        if (seen_value++) return NULL;
                        if (*at == '-' || (*at >= '0' && *at <= '9')) return NULL; /* Python says if it is falsy */
                        Span dv = {at, snak.p};
                        if (!falsy(&dv)) st->datavalue = dv;
                    }
                }
                if (more < 0) return NULL;
                statement.p = snak.p;
            } else {
                if (!(statement.p = skip_value(value, end, 4))) return NULL;
                if (SPAN_IS(&key, "rank")) {
                    Span rank;
                    if (seen_rank++ || !plain_string(value, statement.p, &rank)) return NULL;
                    st->preferred = SPAN_IS(&rank, "preferred");
                    st->deprecated = SPAN_IS(&rank, "deprecated");
                }
            }
        }
        if (more < 0) return NULL;
        p = statement.p;
        s->used++;
        (*count)++;
        more = next_member(&p, end, ']');
        if (more < 0) return NULL;
        if (!more) return p;
    }
}

/* The line [a, b) slimmed: a new tuple (id, classes, refs, entity JSON), NULL with no exception when Python
 * should read it, NULL with an exception on failure. One pass checks the whole line and finds what is kept. */
static PyObject *slim(const char *a, const char *b, const Names *languages, const Names *properties, Slimmer *s) {
    Span texts[3][MAX_LANGUAGES];
    Py_ssize_t first[MAX_NAMES], count[MAX_NAMES];
    static const char *const text_names[] = {"labels", "descriptions", "aliases"};
    Span id = {NULL, NULL};
    int seen[7] = {0}; /* id, type, labels, descriptions, aliases, claims */
    s->used = 0;
    for (int c = 0; c < properties->count; c++) first[c] = count[c] = -1;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < languages->count; i++) texts[k][i].start = NULL;
    Walk entity = {skip_ws(a, b), b, 0};
    Span key;
    int more;
    while ((more = member(&entity, &key)) > 0) {
        const char *value = entity.p;
        int text = SPAN_IS(&key, "labels") ? 0 : SPAN_IS(&key, "descriptions") ? 1 : SPAN_IS(&key, "aliases") ? 2 : -1;
        if (text >= 0) {
            if (seen[2 + text]++ || !(entity.p = members(value, b, languages, texts[text]))) return NULL;
        } else if (SPAN_IS(&key, "claims")) {
            if (seen[5]++) return NULL;
            Walk claims = {value, b, 0};
            Span pid;
            while ((more = member(&claims, &pid)) > 0) {
                int c = index_of(properties, &pid);
                if (c >= 0) {
                    if (first[c] >= 0) return NULL;
                    first[c] = s->used;
                    claims.p = statements_of(claims.p, b, s, &count[c]);
                } else {
                    claims.p = skip_value(claims.p, b, 2);
                }
                if (!claims.p) return NULL;
            }
            if (more < 0) return NULL;
            entity.p = claims.p;
        } else {
            if (!(entity.p = skip_value(value, b, 1))) return NULL;
            Span text_value;
            if (SPAN_IS(&key, "id")) {
                if (seen[0]++ || !plain_string(value, entity.p, &id)) return NULL;
            } else if (SPAN_IS(&key, "type")) {
                if (seen[1]++ || !plain_string(value, entity.p, &text_value) || !SPAN_IS(&text_value, "item")) return NULL; /* Python counts the others */
            } else if (SPAN_IS(&key, "redirects")) {
                return NULL;
            }
        }
    }
    if (more < 0 || skip_ws(entity.p, b) != b || !seen[0] || !seen[1]) return NULL;
    if (!valid_utf8((const unsigned char *)a, (const unsigned char *)b)) return NULL;
    Rows *out = &s->text;
    out->size = 0;
    for (int k = 0; k < 3; k++) {
        if ((k ? PUT(out, "},\"") : PUT(out, "{\"")) < 0 || put(out, text_names[k], strlen(text_names[k])) < 0 ||
            PUT(out, "\":{") < 0)
            return NULL;
        int n = 0;
        for (int i = 0; i < languages->count; i++) {
            const Span *t = &texts[k][i];
            if (!t->start) continue;
            if ((n++ && PUT(out, ",") < 0) || PUT(out, "\"") < 0 || put(out, languages->bytes[i], languages->size[i]) < 0 ||
                PUT(out, "\":") < 0 || put(out, t->start, t->end - t->start) < 0)
                return NULL;
        }
    }
    if (PUT(out, "},\"values\":{") < 0) return NULL;
    PyObject *classes = PyList_New(0), *refs = PyList_New(0), *result = NULL;
    if (!classes || !refs) goto done;
    int written = 0;
    for (int c = 0; c < properties->count; c++) {
        if (count[c] <= 0) continue;
        Statement *statements = s->statements + first[c];
        int any_preferred = 0, chosen = 0;
        for (Py_ssize_t i = 0; i < count[c]; i++) any_preferred |= statements[i].preferred;
        int is_class = properties->size[c] == 3 && memcmp(properties->bytes[c], "P31", 3) == 0;
        for (Py_ssize_t i = 0; i < count[c]; i++) {
            Statement *st = &statements[i];
            if ((any_preferred ? !st->preferred : st->deprecated) || !st->value) continue;
            if (!chosen++) {
                if ((written++ && PUT(out, ",") < 0) || PUT(out, "\"") < 0 ||
                    put(out, properties->bytes[c], properties->size[c]) < 0 || PUT(out, "\":[") < 0)
                    goto done;
            } else if (PUT(out, ",") < 0) {
                goto done;
            }
            if (!st->datavalue.start) {
                if (PUT(out, "{}") < 0) goto done;
                continue;
            }
            if (put(out, st->datavalue.start, st->datavalue.end - st->datavalue.start) < 0) goto done;
            for (int quantity = 0; quantity < 2; quantity++) {
                if (!quantity && !is_class) continue;
                PyObject *ref;
                int named = item_named(&st->datavalue, quantity, &ref);
                if (named == -2) goto done;
                if (named == -1) goto bail;
                if (named == 1) {
                    int failed = PyList_Append(quantity ? refs : classes, ref);
                    Py_DECREF(ref);
                    if (failed) goto done;
                }
            }
        }
        if (chosen && PUT(out, "]") < 0) goto done;
    }
    if (PUT(out, "}}") < 0) goto done;
    PyObject *qid = PyUnicode_DecodeUTF8(id.start, id.end - id.start, NULL);
    PyObject *json = qid ? PyUnicode_DecodeUTF8(out->bytes, out->size, NULL) : NULL;
    if (json) result = PyTuple_Pack(4, qid, classes, refs, json);
    Py_XDECREF(qid);
    Py_XDECREF(json);
    goto done;
bail:
    PyErr_Clear();
done:
    Py_XDECREF(classes);
    Py_XDECREF(refs);
    return result;
}

PyDoc_STRVAR(scan_doc,
"scan(block, begin, end, first_line, languages, classes, properties, row_bytes, by_class, label_base)\n\n"
"The lines of block[begin:end] (whole lines; the first is line first_line). languages: the plan's language\n"
"codes as bytes, in order; classes: the domains' classes as the digits of their numeric ids; properties: the\n"
"plan's, as bytes, in order; by_class: every domain filters on classes alone. Returns (counts, labels, handed):\n"
"counts is (lines, newlines, lexemes,\n"
"properties, outside_domains) of the lines settled here; labels, the label rows of the items settled here\n"
"(\"id\\tline\\tJSON\\n\", line counted from label_base for the first line); handed lists (kind, start, end,\n"
"line, id) for Python: kind 0, the raw line [start, end) from its shape on; kind 1, the entity [start, end)\n"
"after its labels, with its id; kind 2, the same, when its P31 claim names a class; kind 3, such a line\n"
"slimmed here, its id replaced by (id, classes, refs, entity JSON).");

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t begin, end, row_bytes;
    long long first_line, label_base;
    PyObject *language_tuple, *class_tuple, *property_tuple;
    int by_class;
    if (!PyArg_ParseTuple(args, "y*nnLO!O!O!npL", &view, &begin, &end, &first_line, &PyTuple_Type, &language_tuple,
                          &PyTuple_Type, &class_tuple, &PyTuple_Type, &property_tuple, &row_bytes, &by_class, &label_base))
        return NULL;
    PyObject *handed = NULL, *result = NULL;
    Rows rows = {NULL, 0, 0};
    Slimmer slimmer = {{NULL, 0, 0}, NULL, 0, 0};
    static Names languages, classes, plan_properties; /* large: not on the stack */
    if (!names_from(language_tuple, &languages, MAX_LANGUAGES, "languages")) goto done;
    if (!names_from(class_tuple, &classes, MAX_NAMES, "classes")) goto done;
    if (!names_from(property_tuple, &plan_properties, MAX_NAMES, "properties")) goto done;
    if (begin < 0 || end > view.len || begin > end) {
        PyErr_SetString(PyExc_ValueError, "begin and end must lie within the block");
        goto done;
    }
    handed = PyList_New(0);
    if (!handed) goto done;
    const char *block = view.buf, *start = block + begin, *stop = block + end;
    long long line_no = first_line, lines = 0, lexemes = 0, properties = 0, outside = 0;
    while (start < stop) {
        const char *newline = memchr(start, '\n', stop - start);
        const char *line_end = newline ? newline : stop;
        const char *a = start, *b = line_end - 1;
        int kind = -1; /* settled here */
        const char *id = NULL;
        Py_ssize_t id_size = 0;
        if (!(line_end - start >= 3 && *a == '{' && *b == ',' && b[-1] == '}') || !entity_id(a, b, &id, &id_size)) {
            kind = WHOLE_LINE;
        } else if (*id == 'L') {
            lines++;
            lexemes++;
        } else {
            if (b - a <= row_bytes) {
                int read = labels_of(a, b, &languages, id, id_size, label_base + (line_no - first_line), &rows);
                if (read < 0) goto done;
                if (read == 0) kind = WHOLE_LINE; /* Python reads its labels, and all that follows */
            }
            if (kind != WHOLE_LINE) {
                lines++;
                if (*id == 'P') {
                    properties++;
                } else if (!by_class || (b - a < REDIRECT_BYTES && FIND(a, b, "\"redirects\""))) {
                    kind = AFTER_LABELS;
                } else {
                    int named = names_a_class(a, b, &classes);
                    if (named == 0)
                        outside++;
                    else
                        kind = named == 1 ? CANDIDATE : AFTER_LABELS; /* -1: a P31 claim written otherwise */
                }
            }
        }
        if (kind == WHOLE_LINE) {
            if (append_new(handed, Py_BuildValue("(innLO)", WHOLE_LINE, (Py_ssize_t)(start - block), (Py_ssize_t)(line_end - block),
                                                 line_no, Py_None)) < 0)
                goto done;
        } else if (kind == CANDIDATE && b - a <= row_bytes) {
            PyObject *row = slim(a, b, &languages, &plan_properties, &slimmer), *item;
            if (row) {
                item = Py_BuildValue("(innLN)", SLIMMED, (Py_ssize_t)(a - block), (Py_ssize_t)(b - block), line_no, row);
            } else if (PyErr_Occurred()) {
                goto done;
            } else {
                PyObject *qid = PyUnicode_DecodeASCII(id, id_size, NULL);
                item = qid ? Py_BuildValue("(innLN)", CANDIDATE, (Py_ssize_t)(a - block), (Py_ssize_t)(b - block), line_no, qid) : NULL;
            }
            if (append_new(handed, item) < 0) goto done;
        } else if (kind >= 0) {
            PyObject *qid = PyUnicode_DecodeASCII(id, id_size, NULL);
            if (!qid || append_new(handed, Py_BuildValue("(innLN)", kind, (Py_ssize_t)(a - block), (Py_ssize_t)(b - block),
                                                        line_no, qid)) < 0)
                goto done;
        }
        line_no++;
        start = line_end + 1;
    }
    result = Py_BuildValue("(LLLLL)y#O", lines, line_no - first_line, lexemes, properties, outside,
                           rows.bytes ? rows.bytes : "", rows.size, handed);
done:
    Py_XDECREF(handed);
    PyMem_Free(rows.bytes);
    PyMem_Free(slimmer.text.bytes);
    PyMem_Free(slimmer.statements);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_prefilter", "The Wikidata scan's byte tests, compiled.", -1, methods,
                                     NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__prefilter(void) {
    for (int c = 0; c < 256; c++) ORDINARY[c] = c >= 0x20 && c != '"' && c != '\\';
    datavalue_keys = names_of(2, DATAVALUE_KEYS);
    item_keys = names_of(2, ITEM_KEYS);
    quantity_keys = names_of(1, QUANTITY_KEYS);
    return PyModule_Create(&module);
}
