"""Compiled loops (numba) over flat arrays of word keys: what a per-document Python loop would make too slow.

Every function takes flat values plus row offsets, so a whole partition is one call. The kernels that
polars calls (through map_batches, possibly from several of its threads at once) are serial and release
the GIL; only those called from the main thread run in parallel, since numba's default threading layer
must not be entered from two threads at once. Word keys carry a
stable hash in the high bits and the word's length in characters in the low 16 bits (see text.py).
"""

from __future__ import annotations

import numba
import numpy as np

LENGTH_BITS = 16
LENGTH_MASK = np.uint64((1 << LENGTH_BITS) - 1)
HASH_MASK = np.uint64(((1 << 64) - 1) ^ ((1 << LENGTH_BITS) - 1))
NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection on 64-bit values
_U32 = np.uint64(0xFFFFFFFF)


@numba.njit(cache=True, nogil=True)
def fmix64(h):
    """MurmurHash3's 64-bit finaliser: spreads every input bit over every output bit."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@numba.njit(cache=True, nogil=True, inline="always")
def _ngram_key(keys, at, n):
    h = np.uint64(0)
    for j in range(n):
        h = h * NGRAM_MULTIPLIER + (keys[at + j] & HASH_MASK)
    # Never 0: 0 marks an empty slot in the tables below.
    return fmix64(h) | np.uint64(1)


@numba.njit(cache=True, nogil=True)
def _table_size(items):
    size = 16
    while size < 2 * items:
        size <<= 1
    return size


@numba.njit(cache=True, nogil=True)
def _word_chars(keys, start, end):
    total = 0
    for i in range(start, end):
        total += np.int64(keys[i] & LENGTH_MASK)
    return total


@numba.njit(cache=True, nogil=True)
def top_ngram_share(keys, offsets, n):
    """Per row: characters of the most frequent repeated word n-gram times its count, over all word characters."""
    rows = offsets.size - 1
    out = np.zeros(rows, np.float64)
    for r in range(rows):
        start, end = offsets[r], offsets[r + 1]
        grams = end - start - n + 1
        total = _word_chars(keys, start, end)
        if grams < 2 or total == 0:
            continue
        size = _table_size(grams)
        slots = np.zeros(size, np.uint64)
        counts = np.zeros(size, np.int64)
        best = 0
        for i in range(grams):
            key = _ngram_key(keys, start + i, n)
            slot = np.int64(key & np.uint64(size - 1))
            while slots[slot] != 0 and slots[slot] != key:
                slot = (slot + 1) & (size - 1)
            slots[slot] = key
            counts[slot] += 1
            if counts[slot] > 1:
                chars = _word_chars(keys, start + i, start + i + n)
                best = max(best, counts[slot] * chars)
        out[r] = min(best / total, 1.0)
    return out


@numba.njit(cache=True, nogil=True)
def duplicate_ngram_share(keys, offsets, n):
    """Per row: characters of words inside a word n-gram that repeats an earlier one, over all word characters."""
    rows = offsets.size - 1
    out = np.zeros(rows, np.float64)
    for r in range(rows):
        start, end = offsets[r], offsets[r + 1]
        grams = end - start - n + 1
        total = _word_chars(keys, start, end)
        if grams < 2 or total == 0:
            continue
        size = _table_size(grams)
        slots = np.zeros(size, np.uint64)
        covered = np.zeros(end - start, np.bool_)
        for i in range(grams):
            key = _ngram_key(keys, start + i, n)
            slot = np.int64(key & np.uint64(size - 1))
            while slots[slot] != 0 and slots[slot] != key:
                slot = (slot + 1) & (size - 1)
            if slots[slot] == key:
                covered[i : i + n] = True
            slots[slot] = key
        chars = 0
        for i in range(end - start):
            if covered[i]:
                chars += np.int64(keys[start + i] & LENGTH_MASK)
        out[r] = chars / total
    return out


@numba.njit(cache=True, nogil=True)
def ngram_hashes(keys, offsets, n):
    """Hash of every word n-gram, flat, and how many each row has (rows shorter than n have none)."""
    rows = offsets.size - 1
    per_row = np.zeros(rows, np.int64)
    for r in range(rows):
        per_row[r] = max(offsets[r + 1] - offsets[r] - n + 1, 0)
    out = np.empty(per_row.sum(), np.uint64)
    k = 0
    for r in range(rows):
        for i in range(per_row[r]):
            out[k] = _ngram_key(keys, offsets[r] + i, n)
            k += 1
    return out, per_row


@numba.njit(cache=True, nogil=True, inline="always")
def _fmix32(h):
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _U32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _U32
    h ^= h >> np.uint64(16)
    return h


@numba.njit(cache=True, parallel=True)
def minhash_signatures(shingles, offsets, a, b):
    """datasketch's "affine32" MinHash of each row's shingles, all rows at once.

    Equal to `datasketch.MinHash(num_perm, seed, hashfunc=lambda x: x)` updated with each shingle's low
    32 bits: the same murmur pre-mix and the same `a * h + b mod 2^32` permutations.
    """
    rows = offsets.size - 1
    perms = a.size
    out = np.full((rows, perms), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    for r in numba.prange(rows):
        for i in range(offsets[r], offsets[r + 1]):
            x = _fmix32(shingles[i] & _U32)
            for k in range(perms):
                v = np.uint32((np.uint64(a[k]) * x + np.uint64(b[k])) & _U32)
                if v < out[r, k]:
                    out[r, k] = v
    return out


@numba.njit(cache=True, nogil=True)
def _sorted_unique(values):
    s = np.sort(values)
    keep = np.ones(s.size, np.bool_)
    for i in range(1, s.size):
        keep[i] = s[i] != s[i - 1]
    return s[keep]


@numba.njit(cache=True, parallel=True)
def pair_jaccard(shingles, offsets, left, right):
    """Exact Jaccard similarity of the shingle sets of rows left[i] and right[i], for every pair i."""
    out = np.zeros(left.size, np.float64)
    for p in numba.prange(left.size):
        x = _sorted_unique(shingles[offsets[left[p]] : offsets[left[p] + 1]])
        y = _sorted_unique(shingles[offsets[right[p]] : offsets[right[p] + 1]])
        i = j = common = 0
        while i < x.size and j < y.size:
            if x[i] == y[j]:
                common += 1
                i += 1
                j += 1
            elif x[i] < y[j]:
                i += 1
            else:
                j += 1
        union = x.size + y.size - common
        out[p] = common / union if union else 0.0
    return out


@numba.njit(cache=True, nogil=True)
def sequence_hashes(keys, offsets):
    """One hash per row over its whole word sequence (0 for a row without words): equal texts up to case,
    punctuation and spacing hash equal."""
    out = np.zeros(offsets.size - 1, np.uint64)
    for r in range(offsets.size - 1):
        if offsets[r + 1] == offsets[r]:
            continue
        h = np.uint64(offsets[r + 1] - offsets[r])
        for i in range(offsets[r], offsets[r + 1]):
            h = h * NGRAM_MULTIPLIER + (keys[i] & HASH_MASK)
        out[r] = fmix64(h) | np.uint64(1)
    return out


# Character classes (see text.character_tables): bit 1 letter, bit 2 word character, bit 4 white space.
LETTER, WORD_CHAR, SPACE = 1, 2, 4


@numba.njit(cache=True, nogil=True, inline="always")
def _decode(data, i, end):
    """(code point, bytes) of the UTF-8 character at data[i]; a malformed byte reads as U+FFFD."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, 1
    if b >= 0xF0 and i + 3 < end:
        return ((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | ((np.int64(data[i + 2]) & 0x3F) << 6) | (
            np.int64(data[i + 3]) & 0x3F), 4
    if b >= 0xE0 and i + 2 < end:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    if b >= 0xC0 and i + 1 < end:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    return 0xFFFD, 1


@numba.njit(cache=True, nogil=True, inline="always")
def _fnv_code_point(h, cp):
    """FNV-1a over the UTF-8 bytes of one code point."""
    prime = np.uint64(0x100000001B3)
    if cp < 0x80:
        return (h ^ np.uint64(cp)) * prime
    if cp < 0x800:
        h = (h ^ np.uint64(0xC0 | (cp >> 6))) * prime
    elif cp < 0x10000:
        h = (h ^ np.uint64(0xE0 | (cp >> 12))) * prime
        h = (h ^ np.uint64(0x80 | ((cp >> 6) & 0x3F))) * prime
    else:
        h = (h ^ np.uint64(0xF0 | (cp >> 18))) * prime
        h = (h ^ np.uint64(0x80 | ((cp >> 12) & 0x3F))) * prime
        h = (h ^ np.uint64(0x80 | ((cp >> 6) & 0x3F))) * prime
    return (h ^ np.uint64(0x80 | (cp & 0x3F))) * prime


@numba.njit(cache=True, nogil=True, inline="always")
def _word_key(h, chars):
    return (fmix64(h) & HASH_MASK) | np.uint64(min(chars, 0xFFFF))


@numba.njit(cache=True, nogil=True)
def scan_texts(data, offsets, classes, lower):
    """One pass over each text's UTF-8 bytes: its words as keys, and its whitespace tokens with and without letters.

    A word is a run of word characters (letters, digits, marks), joined by single inner apostrophes or
    hyphens, lower-cased: the regex [^\\W_]+(?:['’-][^\\W_]+)*. Its key is FNV-1a of its lower-cased
    UTF-8 bytes, finished with fmix64, with its length in characters in the low 16 bits.
    """
    rows = offsets.size - 1
    keys = np.empty(max((offsets[-1] - offsets[0] + rows) // 2 + 1, 1), np.uint64)
    words = np.zeros(rows, np.int64)
    tokens = np.zeros(rows, np.int64)
    letter_tokens = np.zeros(rows, np.int64)
    size = classes.size
    k = 0
    for r in range(rows):
        i, end = offsets[r], offsets[r + 1]
        in_word = False
        joiner = -1
        h = np.uint64(0)
        chars = 0
        in_token = False
        token_letter = False
        while i < end:
            cp, width = _decode(data, i, end)
            kind = classes[cp] if cp < size else 0
            if kind & SPACE:
                if in_token:
                    tokens[r] += 1
                    if token_letter:
                        letter_tokens[r] += 1
                in_token = False
                token_letter = False
            else:
                in_token = True
                if kind & LETTER:
                    token_letter = True
            if kind & WORD_CHAR:
                if not in_word:
                    in_word = True
                    h = np.uint64(0xCBF29CE484222325)
                    chars = 0
                elif joiner >= 0:
                    h = _fnv_code_point(h, joiner)
                    chars += 1
                    joiner = -1
                h = _fnv_code_point(h, lower[cp] if cp < size else cp)
                chars += 1
            elif in_word and joiner < 0 and (cp == 0x27 or cp == 0x2019 or cp == 0x2D):
                joiner = cp
            elif in_word:
                keys[k] = _word_key(h, chars)
                k += 1
                words[r] += 1
                in_word = False
                joiner = -1
            i += width
        if in_word:
            keys[k] = _word_key(h, chars)
            k += 1
            words[r] += 1
        if in_token:
            tokens[r] += 1
            if token_letter:
                letter_tokens[r] += 1
    return keys[:k].copy(), words, tokens, letter_tokens


@numba.njit(cache=True, nogil=True)
def ngram_repetition(keys, offsets, max_n):
    """Per row and per n in 2..max_n, in one pass: column n-2 holds the top repeated n-gram's character share
    (as top_ngram_share) and the duplicate n-gram character share (as duplicate_ngram_share) is in the
    second block of columns; each equals the single-n kernels above."""
    rows = offsets.size - 1
    sizes = max_n - 1
    top = np.zeros((rows, sizes), np.float64)
    dup = np.zeros((rows, sizes), np.float64)
    longest = 0
    for r in range(rows):
        longest = max(longest, offsets[r + 1] - offsets[r])
    # Tables are allocated once and only the slots a row touched are cleared after it: zeroing fresh
    # tables for every row would cost more than filling them.
    capacity = _table_size(max(longest, 1))
    slots = np.zeros((sizes, capacity), np.uint64)
    counts = np.zeros((sizes, capacity), np.int32)
    touched = np.zeros((sizes, max(longest, 1)), np.int64)
    covered = np.zeros((sizes, max(longest, 1)), np.bool_)
    best = np.zeros(sizes, np.int64)
    used = np.zeros(sizes, np.int64)
    for r in range(rows):
        start, end = offsets[r], offsets[r + 1]
        length = end - start
        total = _word_chars(keys, start, end)
        if length < 3 or total == 0:
            continue
        size = _table_size(length)
        best[:] = 0
        used[:] = 0
        covered[:, :length] = False
        for i in range(length - 1):
            h = keys[start + i] & HASH_MASK
            chars = np.int64(keys[start + i] & LENGTH_MASK)
            for n in range(2, min(max_n, length - i) + 1):
                word = keys[start + i + n - 1]
                h = h * NGRAM_MULTIPLIER + (word & HASH_MASK)
                chars += np.int64(word & LENGTH_MASK)
                key = fmix64(h) | np.uint64(1)
                t = n - 2
                slot = np.int64(key & np.uint64(size - 1))
                while slots[t, slot] != 0 and slots[t, slot] != key:
                    slot = (slot + 1) & (size - 1)
                if slots[t, slot] == key:
                    covered[t, i : i + n] = True
                    counts[t, slot] += 1
                    best[t] = max(best[t], counts[t, slot] * chars)
                else:
                    slots[t, slot] = key
                    counts[t, slot] = 1
                    touched[t, used[t]] = slot
                    used[t] += 1
        for t in range(sizes):
            top[r, t] = min(best[t] / total, 1.0)
            chars = 0
            for i in range(length):
                if covered[t, i]:
                    chars += np.int64(keys[start + i] & LENGTH_MASK)
            dup[r, t] = chars / total
            for j in range(used[t]):
                slots[t, touched[t, j]] = 0
    return top, dup


FIRST_WORD_BITS = 20


@numba.njit(cache=True, nogil=True, inline="always")
def _first_word_slot(key):
    return np.int64((key >> np.uint64(LENGTH_BITS)) & np.uint64((1 << FIRST_WORD_BITS) - 1))


@numba.njit(cache=True, nogil=True)
def first_word_filter(first_words):
    """A bit table of the words that start a benchmark n-gram: most draft positions fail it at once."""
    table = np.zeros(1 << FIRST_WORD_BITS, np.bool_)
    for key in first_words:
        table[_first_word_slot(key)] = True
    return table


@numba.njit(cache=True, nogil=True)
def ngram_hits(keys, offsets, n, known, first_words):
    """(row, n-gram hash) of every word n-gram whose hash is in `known` (sorted): the benchmark lookup,
    without hashing, let alone storing, every n-gram of every draft."""
    rows_out = []
    grams_out = []
    for r in range(offsets.size - 1):
        for i in range(max(offsets[r + 1] - offsets[r] - n + 1, 0)):
            if not first_words[_first_word_slot(keys[offsets[r] + i])]:
                continue
            key = _ngram_key(keys, offsets[r] + i, n)
            at = np.searchsorted(known, key)
            if at < known.size and known[at] == key:
                rows_out.append(r)
                grams_out.append(key)
    rows = np.empty(len(rows_out), np.int64)
    grams = np.empty(len(rows_out), np.uint64)
    for j in range(len(rows_out)):
        rows[j] = rows_out[j]
        grams[j] = grams_out[j]
    return rows, grams
