"""A Python port of Hadoop Streaming's PipeMapRed.splitArgs, for the tests.

Hadoop does not give the -mapper / -reducer / -combiner string to a shell: it splits it into
the argv of the task's process itself, with this function (hadoop-streaming,
org/apache/hadoop/streaming/PipeMapRed.java). Its rules, which this port keeps to the letter:

- a space (only ' ', not TAB) outside quotes ends a word; runs of spaces make no empty words;
- a ' or " outside quotes opens a quoted word and ends the word before it, if any
  (so a'b c' is two words: a, b c); the same quote closes it; the other kind of quote is an
  ordinary character inside;
- there are no escapes, and an empty word ('' or "") is dropped;
- an unclosed quote runs to the end of the string.
"""
from typing import List

OUTSIDE, SINGLEQ, DOUBLEQ = 1, 2, 3


def split_args(args: str) -> List[str]:
    """Split a streaming command string exactly as PipeMapRed.splitArgs does."""
    words = []  # type: List[str]
    state = OUTSIDE
    start = 0
    length = len(args)
    for c in range(length + 1):
        last = c == length
        previous = state
        end_word = False
        if not last:
            char = args[c]
            if char == "'":
                if state == OUTSIDE:
                    state = SINGLEQ
                elif state == SINGLEQ:
                    state = OUTSIDE
                end_word = state != previous
            elif char == '"':
                if state == OUTSIDE:
                    state = DOUBLEQ
                elif state == DOUBLEQ:
                    state = OUTSIDE
                end_word = state != previous
            elif char == " " and state == OUTSIDE:
                end_word = True
        if last or end_word:
            if c != start:
                words.append(args[start:c])
            start = c + 1
    return words
