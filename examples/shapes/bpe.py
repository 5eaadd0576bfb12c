"""Learn a small CLIP-format BPE vocabulary and tokenize text with it.

The vocabulary file has CLIP's format: gzip'd UTF-8 text whose first line is
a header and whose following lines are merges "a b", one per line, in rank
order. Tokens are CLIP's byte-level ones: each UTF-8 byte is mapped through
the byte-to-unicode table, and the last symbol of a word ends with "</w>". The
ids are the 256 byte characters, the same 256 with "</w>", one id per merge,
then <|startoftext|> = 512 + merges and <|endoftext|> = 513 + merges.

    bpe.py --out shapes-vocab.txt.gz     learn merges from the scene captions
    bpe.py --vocab V.txt.gz TEXT ...     print the ids of each TEXT
"""

import argparse
import gzip
import html
import io
import sys

import regex

# The split pattern of CLIP's tokenizer, matched case-insensitively.
SPLIT_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
HEADER = "shapes-vocab.txt#version: 0.2"
START, END = "<|startoftext|>", "<|endoftext|>"


def bytes_to_unicode():
    """Return CLIP's byte -> character table, in CLIP's order.

    Printable Latin-1 bytes map to themselves; the other 68 bytes map to the
    characters from U+0100 on. The table's order fixes the first 256 ids.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\xa1"), ord("\xac") + 1))
        + list(range(ord("\xae"), ord("\xff") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


BYTE_ENCODER = bytes_to_unicode()


def clean(text):
    """Apply CLIP's clean-up: HTML unescape twice, collapse whitespace, lower case.

    NOTE: CLIP also runs ftfy's fix_text first. It is left out here because
    ftfy is not installed and it changes nothing in plain ASCII text such as
    the scene captions.
    """
    text = html.unescape(html.unescape(text))
    return " ".join(text.split()).lower()


def pieces(text):
    """Split cleaned text into pieces and map each one's bytes to characters."""
    return [
        "".join(BYTE_ENCODER[b] for b in piece.encode("utf-8"))
        for piece in SPLIT_PATTERN.findall(clean(text))
    ]


def word_symbols(piece):
    """Return the initial BPE symbols of a piece: its characters, the last with </w>."""
    return tuple(piece[:-1]) + (piece[-1] + "</w>",)


def merge_pair(symbols, pair):
    """Replace every adjacent occurrence of pair in symbols, left to right."""
    merged = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def learn_merges(texts):
    """Learn merges until every word of texts is a single symbol.

    Each step merges the most frequent adjacent pair over all words, counted
    once per occurrence of the word. Ties go to the lexicographically smallest
    pair, so the result depends only on texts.
    """
    counts = {}
    for text in texts:
        for piece in pieces(text):
            symbols = word_symbols(piece)
            counts[symbols] = counts.get(symbols, 0) + 1

    merges = []
    while any(len(symbols) > 1 for symbols in counts):
        pair_counts = {}
        for symbols, count in counts.items():
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] = pair_counts.get(pair, 0) + count
        best = min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))
        merges.append(best)
        counts = {merge_pair(symbols, best): count for symbols, count in counts.items()}
    return merges


def write_vocab(merges, path):
    """Write merges as a gzip'd CLIP vocabulary file with a fixed timestamp."""
    text = HEADER + "\n" + "".join(f"{a} {b}\n" for a, b in merges)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="shapes-vocab.txt", mode="wb", fileobj=raw, mtime=0) as out:
            out.write(text.encode("utf-8"))


def read_merges(path, limit=None):
    """Read the merges of a vocabulary file, skipping its header line.

    limit keeps only the first merges; OpenAI's bpe_simple_vocab_16e6 file
    contains 262,144 merge lines of which CLIP uses the first 48,894.
    """
    with gzip.open(path, "rb") as raw:
        lines = io.TextIOWrapper(raw, encoding="utf-8").read().split("\n")[1:]
    merges = [tuple(line.split(" ")) for line in lines if line]
    for number, merge in enumerate(merges, start=2):
        if len(merge) != 2:
            raise ValueError(f"{path}: line {number} is not a merge 'a b': {' '.join(merge)!r}")
    return merges[:limit] if limit is not None else merges


class Tokenizer:
    """CLIP's BPE tokenizer over a list of merges."""

    def __init__(self, merges):
        symbols = list(BYTE_ENCODER.values())
        symbols += [s + "</w>" for s in symbols]
        symbols += ["".join(merge) for merge in merges]
        symbols += [START, END]
        self.encoder = {symbol: index for index, symbol in enumerate(symbols)}
        self.ranks = {tuple(merge): rank for rank, merge in enumerate(merges)}
        self.start_id = self.encoder[START]
        self.end_id = self.encoder[END]
        self.vocab_size = len(symbols)

    @classmethod
    def from_file(cls, path, limit=None):
        return cls(read_merges(path, limit))

    def bpe(self, piece):
        """Split one byte-mapped piece into symbols by applying merges in rank order."""
        symbols = word_symbols(piece)
        while len(symbols) > 1:
            pairs = set(zip(symbols, symbols[1:]))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            symbols = merge_pair(symbols, best)
        return symbols

    def encode(self, text):
        """Return the ids of text without the start and end tokens."""
        ids = []
        for piece in pieces(text):
            if piece in (START, END):
                ids.append(self.encoder[piece])
            else:
                ids.extend(self.encoder[s] for s in self.bpe(piece))
        return ids

    def tokenize(self, text, context_length):
        """Return start, the ids of text, end, padded with 0 to context_length."""
        ids = [self.start_id] + self.encode(text) + [self.end_id]
        if len(ids) > context_length:
            raise ValueError(
                f"text {text!r} needs {len(ids)} tokens but the context length is {context_length}"
            )
        return ids + [0] * (context_length - len(ids))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Learn a BPE vocabulary or tokenize text.")
    parser.add_argument("--out", help="learn merges from the scene captions and write them here")
    parser.add_argument("--vocab", help="vocabulary file to tokenize TEXT with")
    parser.add_argument("--limit", type=int, help="use only the first LIMIT merges of --vocab")
    parser.add_argument("text", nargs="*", help="text to tokenize with --vocab")
    args = parser.parse_args(argv)
    if args.out:
        from scenes import CAPTIONS

        merges = learn_merges(CAPTIONS)
        write_vocab(merges, args.out)
        tokenizer = Tokenizer(merges)
        print(f"{len(merges)} merges, vocabulary size {tokenizer.vocab_size}")
        for caption in CAPTIONS:
            print(caption, tokenizer.encode(caption))
    elif args.vocab:
        tokenizer = Tokenizer.from_file(args.vocab, args.limit)
        for text in args.text:
            print(" ".join(str(i) for i in tokenizer.encode(text)))
    else:
        parser.error("give --out to learn a vocabulary or --vocab to tokenize")
    return 0


if __name__ == "__main__":
    sys.exit(main())
