"""Tests for dynagraph.data (pure Python: trees, readers, Vocab, ListOps)."""

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynagraph.data import (ListOpsExample, Sentence, Tree, Vocab, evaluate,
                            generate_listops, listops_to_text, parse_conllu,
                            parse_listops, parse_tree, read_conllu,
                            read_listops_tsv, read_ptb_lm, read_sst_trees)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_file(*parts):
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"shared dataset {path} not available")
    return path


# --------------------------------------------------------------------- trees
SST_LINE = "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 great)) (2 .)))"


def test_parse_tree_basic():
    t = parse_tree(SST_LINE, label_fn=int)
    assert t.label == 3 and not t.is_leaf and t.word is None
    assert t.words() == ["The", "Rock", "is", "great", "."]
    assert [leaf.label for leaf in t.leaves()] == [2, 2, 2, 4, 2]
    assert len(t) == 9
    assert t.height() == 3
    assert t.to_string() == SST_LINE
    assert str(t) == SST_LINE
    # Post-order: children left to right, then the parent.
    order = [n.word or f"<{n.label}>" for n in t.nodes()]
    assert order == ["The", "Rock", "<2>", "is", "great", "<3>", ".", "<4>", "<3>"]
    assert parse_tree(SST_LINE).label == "3"  # labels stay strings by default


def test_parse_tree_whitespace_and_nbsp():
    t = parse_tree(" (1\t(0 8\u00a01\\/2)\n (2 x) ) ", label_fn=int)
    assert t.words() == ["8\u00a01\\/2", "x"]
    assert t.to_string() == "(1 (0 8\u00a01\\/2) (2 x))"


def test_leaf_without_word_round_trips():
    t = Tree("S", [Tree("A"), Tree("B", word="b")])
    assert t.to_string() == "(S (A) (B b))"
    assert parse_tree(t.to_string()) == t


@pytest.mark.parametrize("text, fragment", [
    ("(1 (2 a)", "unclosed '(' at position 0"),
    ("(1 (2 a)))", "')' at position 9"),
    (")", "unmatched ')' at position 0"),
    ("(1 ())", "empty node '()' at position 3"),
    ("(1 (2 a)) (3 b)", "at position 10"),
    ("(1 (2 a) b)", "position 9"),
    ("(1 a b)", "position 5"),
    ("(1 a (2 b))", "position 5"),
    ("((1 a))", "position 1"),
    ("a", "position 0"),
    ("", "position 0"),
    ("   ", "position 0"),
])
def test_parse_tree_errors_give_position(text, fragment):
    with pytest.raises(ValueError, match="position") as info:
        parse_tree(text)
    assert fragment in str(info.value)


def test_parse_tree_bad_label():
    with pytest.raises(ValueError, match=r"bad label 'x' at position 4"):
        parse_tree("(1 (x a))", label_fn=int)


def test_tree_invariants():
    with pytest.raises(ValueError):
        Tree("S", [Tree("A", word="a")], word="w")
    with pytest.raises(ValueError):
        Tree("S", word="two words").to_string()
    with pytest.raises(ValueError):
        Tree("(", word="a").to_string()
    assert Tree(1, word="a") != Tree(2, word="a")
    assert Tree(1, word="a") != Tree("1", word="a")
    assert Tree(1, [Tree(1, word="a")]) != Tree(1, [Tree(1, word="a")] * 2)


def test_deep_tree_no_recursion_limit():
    depth = 20000
    node = Tree(0, word="w")
    for i in range(depth):
        node = Tree(i % 5, [node, Tree(2, word=str(i))])
    assert len(node) == 2 * depth + 1
    assert node.height() == depth
    assert len(node.leaves()) == depth + 1
    assert sum(1 for _ in node.nodes()) == 2 * depth + 1
    text = node.to_string()
    again = parse_tree(text, label_fn=int)
    assert again == node
    assert again.to_string() == text


_ATOM = st.text(
    alphabet=st.characters(blacklist_characters=" \t\n\r\f\v()",
                           blacklist_categories=("Cs",)),
    min_size=1, max_size=6)


def _trees(label_strategy):
    leaves = st.builds(lambda lab, w: Tree(lab, word=w), label_strategy, _ATOM)
    return st.recursive(
        leaves,
        lambda kids: st.builds(Tree, label_strategy, st.lists(kids, min_size=1, max_size=4)),
        max_leaves=30)


@settings(database=None, max_examples=150, deadline=None)
@given(_trees(_ATOM))
def test_tree_round_trip_str_labels(tree):
    text = tree.to_string()
    again = parse_tree(text)
    assert again == tree
    assert again.to_string() == text
    assert len(again) == len(tree) == sum(1 for _ in tree.nodes())
    assert again.words() == tree.words()


@settings(database=None, max_examples=100, deadline=None)
@given(_trees(st.integers(-5, 100)))
def test_tree_round_trip_int_labels(tree):
    assert parse_tree(tree.to_string(), label_fn=int) == tree


# ------------------------------------------------------------------ readers
def test_read_sst_trees(tmp_path):
    path = tmp_path / "sst.txt"
    path.write_text(SST_LINE + "\n(0 (1 bad\u00a0movie) (0 !))\n\n", encoding="utf-8")
    trees = list(read_sst_trees(path))
    assert len(trees) == 2
    assert trees[1].words() == ["bad\u00a0movie", "!"]
    assert [t.label for t in trees] == [3, 0]


@pytest.mark.parametrize("bad", ["(2 (2 a) (2 b)", "(2 (x a) (2 b))", "(7 (2 a) (2 b))"])
def test_read_sst_trees_bad_line_names_file_and_line(tmp_path, bad):
    path = tmp_path / "bad.txt"
    path.write_text(SST_LINE + "\n" + SST_LINE + "\n" + bad + "\n", encoding="utf-8")
    reader = read_sst_trees(path)
    assert next(reader).label == 3
    with pytest.raises(ValueError) as info:
        list(reader)
    assert str(info.value).startswith(f"{path}:3: ")


def test_readers_missing_file(tmp_path):
    missing = tmp_path / "nope.txt"
    for reader in (read_sst_trees, read_ptb_lm, read_conllu, read_listops_tsv):
        with pytest.raises(FileNotFoundError):
            list(reader(missing))


def test_read_ptb_lm(tmp_path):
    path = tmp_path / "ptb.txt"
    path.write_text(" the cat sat \n\n   \n a <unk> N \n", encoding="ascii")
    assert list(read_ptb_lm(path)) == [["the", "cat", "sat", "<eos>"], ["a", "<unk>", "N", "<eos>"]]
    assert list(read_ptb_lm(path, eos=None)) == [["the", "cat", "sat"], ["a", "<unk>", "N"]]
    assert list(read_ptb_lm(path, eos="</s>"))[0][-1] == "</s>"


CONLLU = """\
# sent_id = s1
# text = I can't go.
1\tI\tI\tPRON\tPRP\tCase=Nom\t4\tnsubj\t4:nsubj\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\tVerbForm=Fin\t4\taux\t4:aux\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_
4\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t0:root\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_

# sent_id = s2
# text_en = not the text
1\tSue\tSue\tPROPN\tNNP\t_\t2\tnsubj\t2:nsubj\t_
2\tlikes\tlike\tVERB\tVBZ\t_\t0\troot\t0:root\t_
2.1\tlikes\tlike\tVERB\tVBZ\t_\t_\t_\t0:root\tCopyOf=2
3\ttea\ttea\tNOUN\tNN\t_\t_\t_\t2.1:obj\t_"""


def test_parse_conllu_sample():
    sents = list(parse_conllu(CONLLU.splitlines()))
    assert len(sents) == 2  # the last sentence has no trailing blank line
    s1, s2 = sents
    assert isinstance(s1, Sentence)
    assert s1.text == "I can't go." and s1.sent_id == "s1"
    assert s1.comments == ["sent_id = s1", "text = I can't go."]
    assert s1.words == ["I", "ca", "n't", "go", "."]
    assert [t.id for t in s1.tokens] == [1, 2, 3, 4, 5]
    assert [t.head for t in s1.tokens] == [4, 4, 4, 0, 4]
    assert [t.upos for t in s1.tokens] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert s1.tokens[3].misc == "SpaceAfter=No" and s1.tokens[0].feats == "Case=Nom"
    assert s1.multiword == [(2, 3, "can't")]
    assert s1.empty_nodes == []
    assert s2.text is None and s2.sent_id == "s2"
    assert s2.words == ["Sue", "likes", "tea"] and len(s2) == 3
    assert s2.tokens[2].head is None and s2.tokens[2].deps == "2.1:obj"
    assert len(s2.empty_nodes) == 1 and s2.empty_nodes[0][0] == "2.1"


def test_read_conllu_file_and_errors(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU + "\n\n\n", encoding="utf-8")
    assert len(list(read_conllu(path))) == 2
    lines = CONLLU.splitlines()
    lines[4] = lines[4].replace("\tAUX", " AUX")  # 9 columns
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:5: expected 10 tab-separated columns, got 9"):
        list(read_conllu(path))
    lines = CONLLU.splitlines()
    lines[5] = lines[5].replace("\t4\tadvmod", "\tx\tadvmod")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:6: bad HEAD 'x'"):
        list(read_conllu(path))


# -------------------------------------------------------------------- vocab
def test_vocab_order_and_lookup():
    toks = "b a c a b a d".split()
    v = Vocab(toks, specials=("<pad>",))
    assert v.tokens == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert v["a"] == 2 and v["zzz"] == 1 == v.unk_index
    assert "a" in v and "zzz" not in v and len(v) == 6
    assert v.encode(["d", "q", "b"]) == [5, 1, 3]
    assert v.decode([5, 1, 3]) == ["d", "<unk>", "b"]
    assert list(v) == v.tokens
    v2 = Vocab.build([["b", "a"], ["c", "a", "b"], ["a", "d"]], min_count=2)
    assert v2.tokens == ["<unk>", "a", "b"]
    assert v2["c"] == 0
    assert Vocab(["x"], unk="<unk>", specials=("<s>", "<unk>")).tokens == ["<s>", "<unk>", "x"]
    with pytest.raises(ValueError):
        Vocab(specials=("<s>", "<s>"))


def test_vocab_errors_add_freeze():
    v = Vocab(["x", "y"], unk=None)
    assert v.unk_index is None and len(v) == 2
    with pytest.raises(KeyError, match="'zzz'"):
        v["zzz"]
    with pytest.raises(IndexError, match=r"index 2 .* size 2"):
        v.token(2)
    with pytest.raises(IndexError, match=r"index -1 .* size 2"):
        v.token(-1)
    assert v.add("z") == 2 and v.add("x") == 0 and v.token(2) == "z"
    assert v.freeze() is v and v.frozen
    assert v.add("y") == 1
    with pytest.raises(RuntimeError):
        v.add("new")


def test_vocab_to_from_dict():
    v = Vocab.build([["a", "b", "b"], ["c"]], specials=("<pad>", "<eos>"))
    v.add("zz")
    v.freeze()
    d = json.loads(json.dumps(v.to_dict()))
    w = Vocab.from_dict(d)
    assert w == v and w.tokens == v.tokens and w.unk == v.unk and w.frozen
    assert w.specials == ("<pad>", "<eos>") and w["nope"] == v["nope"]


@settings(database=None, max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(max_size=4), max_size=8), max_size=10), st.integers(1, 3))
def test_vocab_properties(sents, min_count):
    v = Vocab.build(sents, min_count=min_count)
    counts = Counter(t for s in sents for t in s)
    assert len(v) == 1 + sum(1 for t, c in counts.items() if c >= min_count and t != "<unk>")
    body = [t for t in v.tokens if t != "<unk>"]
    keys = [(-counts[t], t) for t in body]
    assert keys == sorted(keys)
    for s in sents:
        ids = v.encode(s)
        assert v.decode(ids) == [t if t in v else "<unk>" for t in s]
    assert Vocab.build(sents, min_count=min_count) == v  # deterministic


# ------------------------------------------------------------------ listops
def _reference_eval(text):
    """An independent evaluator over the flat text, with an explicit stack."""
    stack = []
    for tok in text.split():
        if tok.startswith("["):
            stack.append([tok[1:]])
        elif tok == "]":
            op, *args = stack.pop()
            if op == "MIN":
                val = min(args)
            elif op == "MAX":
                val = max(args)
            elif op == "SM":
                val = sum(args) % 10
            else:  # MED: lower median
                val = sorted(args)[(len(args) - 1) // 2]
            if not stack:
                return val
            stack[-1].append(val)
        else:
            stack[-1].append(int(tok))
    raise AssertionError("unterminated expression")


def _text_depth_and_max_args(text):
    """Operator nesting depth and the largest argument count, from the text."""
    best_depth = best_args = 0
    open_counts = []  # argument count of every open operator
    for tok in text.split():
        if tok.startswith("["):
            if open_counts:
                open_counts[-1] += 1
            open_counts.append(0)
            best_depth = max(best_depth, len(open_counts))
        elif tok == "]":
            n_args = open_counts.pop()
            assert n_args >= 2
            best_args = max(best_args, n_args)
        else:
            open_counts[-1] += 1
    return best_depth, best_args


def test_listops_generation_properties():
    examples = generate_listops(3000, max_depth=5, max_args=5, seed=7, min_depth=2)
    assert len(examples) == 3000
    depths = Counter()
    for ex in examples:
        assert isinstance(ex, ListOpsExample)
        assert ex.answer == _reference_eval(ex.text) == evaluate(ex.tree)
        depth, max_args = _text_depth_and_max_args(ex.text)
        assert 2 <= depth <= 5 and ex.tree.height() == depth
        assert max_args <= 5
        assert parse_listops(ex.text) == ex.tree
        assert listops_to_text(ex.tree) == ex.text
        depths[depth] += 1
    assert set(depths) == {2, 3, 4, 5}
    counts = Counter(ex.answer for ex in examples)
    assert set(counts) == set(range(10)) and max(counts.values()) <= 300


def test_listops_deterministic():
    a = generate_listops(500, seed=3)
    b = generate_listops(500, seed=3)
    c = generate_listops(500, seed=4)
    assert [e.text for e in a] == [e.text for e in b]
    assert [e.text for e in a] != [e.text for e in c]
    assert all(e.tree.height() <= 4 for e in a)
    assert len(generate_listops(10000, seed=1)) == 10000
    unbalanced = generate_listops(200, seed=3, balance=False)
    assert all(e.answer == _reference_eval(e.text) for e in unbalanced)


def test_listops_parse_and_evaluate():
    tree = parse_listops("[MAX 2 9 [MIN 4 7 ] 0 ]")
    assert tree.label == "MAX" and len(tree.children) == 4
    assert tree.children[0] == Tree(2, word="2")
    assert tree.children[2].label == "MIN" and evaluate(tree) == 9
    assert evaluate(parse_listops("[MED 3 1 8 5 ]")) == 3
    assert evaluate(parse_listops("[SM 9 8 [MED 1 2 3 ] ]")) == 9
    assert parse_listops("( ( [MIN 4 ) 7 ) ]") == parse_listops("[MIN 4 7 ]")
    assert evaluate(parse_listops("7")) == 7
    for bad in ["[MAX 2 3", "[MAX 2 3 ] ]", "[FOO 1 ]", "[MAX ]", "[MAX 12 ]", ""]:
        with pytest.raises(ValueError):
            parse_listops(bad)
    with pytest.raises(ValueError):
        generate_listops(5, min_depth=3, max_depth=2)


def test_read_listops_tsv(tmp_path):
    lra = tmp_path / "lra.tsv"
    lra.write_text("Source\tTarget\n( ( [MAX 2 ) 9 ) ]\t9\n[SM 5 6 ]\t1\n", encoding="utf-8")
    orig = tmp_path / "orig.tsv"
    orig.write_text("9\t[MAX 2 9 ]\n1\t[SM 5 6 ]\n", encoding="utf-8")
    for path in (lra, orig):
        exs = list(read_listops_tsv(path))
        assert [(e.answer, e.text) for e in exs] == [(9, "[MAX 2 9 ]"), (1, "[SM 5 6 ]")]
        assert all(evaluate(e.tree) == e.answer for e in exs)
    bad = tmp_path / "bad.tsv"
    bad.write_text("9\t[MAX 2 9 ]\n3\t[MAX 2 [MIN 3 ]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{bad}:2: "):
        list(read_listops_tsv(bad))


# ------------------------------------------------------- shared real datasets
@pytest.mark.parametrize("split, n_trees, n_nodes, n_tokens, roots", [
    ("train", 8544, 318582, 163563, (1092, 2218, 1624, 2322, 1288)),
    ("dev", 1101, 41447, 21274, (139, 289, 229, 279, 165)),
    ("test", 2210, 82600, 42405, (279, 633, 389, 510, 399)),
])
def test_real_sst(split, n_trees, n_nodes, n_tokens, roots):
    path = shared_file("sst", f"{split}.txt")
    trees = list(read_sst_trees(path))
    assert len(trees) == n_trees
    assert sum(len(t) for t in trees) == n_nodes
    assert sum(len(t.leaves()) for t in trees) == n_tokens
    root_counts = Counter(t.label for t in trees)
    assert tuple(root_counts[k] for k in range(5)) == roots
    for t in trees:
        for node in t.nodes():
            assert node.label in (0, 1, 2, 3, 4)
            assert node.is_leaf or len(node.children) == 2
            assert node.is_leaf == (node.word is not None)
    if split == "train":
        assert sum("\u00a0" in w for t in trees for w in t.words()) == 3
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [t.to_string() for t in trees] == lines


@pytest.mark.parametrize("split, n_sents, n_words, n_multi, n_empty", [
    ("train", 12544, 204577, 2614, 37),
    ("dev", 2001, 25147, 359, 4),
    ("test", 2077, 25094, 354, 2),
])
def test_real_ud_ewt(split, n_sents, n_words, n_multi, n_empty):
    sents = list(read_conllu(shared_file("ud_ewt", f"en_ewt-ud-{split}.conllu")))
    assert len(sents) == n_sents
    assert sum(len(s) for s in sents) == n_words
    assert sum(len(s.multiword) for s in sents) == n_multi
    assert sum(len(s.empty_nodes) for s in sents) == n_empty
    assert all(s.text and s.sent_id for s in sents)
    upos = {t.upos for s in sents for t in s.tokens}
    assert len(upos) == 17
    for s in sents:
        assert [t.id for t in s.tokens] == list(range(1, len(s) + 1))


@pytest.mark.parametrize("split, n_lines, n_words, n_types", [
    ("train", 42068, 887521, 9999),
    ("valid", 3370, 70390, 6021),
    ("test", 3761, 78669, 6048),
])
def test_real_ptb(split, n_lines, n_words, n_types):
    sents = list(read_ptb_lm(shared_file("ptb", f"ptb.{split}.txt")))
    assert len(sents) == n_lines
    assert all(s[-1] == "<eos>" for s in sents)
    assert sum(len(s) - 1 for s in sents) == n_words
    assert len({w for s in sents for w in s[:-1]}) == n_types
    if split == "train":
        vocab = Vocab.build(sents, unk="<unk>").freeze()
        assert len(vocab) == 10000  # 9,999 word types (incl. <unk>) + <eos>
