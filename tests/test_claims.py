"""lmnotes.claims: every rule gives each verdict it can give, and a claim that cannot fail is refused."""

import pytest

from lmnotes import claims
from lmnotes.claims import Claim, Ledger


def verdict(rule, value, reference, **kw):
    kw.setdefault("no_se", "exact computation") if "se" not in kw and "reference_se" not in kw else None
    return Claim("1.2", "a claim", rule, value, reference, "a baseline", **kw).verdict


def test_higher_and_lower_give_every_verdict():
    assert verdict("higher", 0.9, 0.7, se=0.02, reference_se=0.02) == "shown"
    assert verdict("higher", 0.72, 0.7, se=0.02, reference_se=0.02) == "not separated"  # 0.02 < 2 x 0.028
    assert verdict("higher", 0.5, 0.7, se=0.02, reference_se=0.02) == "opposite"
    assert verdict("higher", 0.75, 0.7, se=0.01, margin=0.1) == "not shown"  # separated, but below the margin
    assert verdict("higher", 0.7, 0.7) == "not shown"  # exact and equal: no gain
    assert verdict("lower", 1.0, 2.0, no_se="one timed run") == "shown"
    assert verdict("lower", 2.5, 2.0, no_se="one timed run") == "opposite"
    assert verdict("lower", 1.99, 2.0, se=0.1) == "not separated"


def test_targets_and_equalities_can_fail():
    assert verdict("at least", 0.95, 0.9, se=0.01) == "shown"
    assert verdict("at least", 0.85, 0.9, se=0.01) == "not shown"
    assert verdict("at least", 0.89, 0.9, se=0.01) == "not separated"
    assert verdict("at most", 0.05, 0.1) == "shown"
    assert verdict("at most", 0.2, 0.1) == "not shown"
    assert verdict("within", 1.0 + 1e-7, 1.0, margin=1e-6) == "shown"
    assert verdict("within", 1.001, 1.0, margin=1e-6) == "not shown"
    assert verdict("within", 1.0, 1.0) == "shown"


def test_a_claim_that_cannot_fail_or_has_no_uncertainty_is_refused():
    with pytest.raises(ValueError, match="reference"):
        Claim("2.3", "faster", "higher", 3.3, None, "no cache", no_se="one run")
    with pytest.raises(ValueError, match="se"):
        Claim("2.3", "faster", "higher", 3.3, 1.0, "no cache")
    with pytest.raises(ValueError, match="rule"):
        Claim("2.3", "faster", "better", 3.3, 1.0, "no cache", no_se="one run")
    with pytest.raises(ValueError, match="section"):
        Claim("two", "faster", "higher", 3.3, 1.0, "no cache", no_se="one run")
    with pytest.raises(ValueError, match="value"):
        Claim("2.3", "faster", "higher", float("nan"), 1.0, "no cache", no_se="one run")
    with pytest.raises(ValueError, match="se"):
        Claim("2.3", "faster", "higher", 3.3, 1.0, "no cache", se=-1.0)
    with pytest.raises(TypeError, match="claim"):
        Claim("2.3", None, "higher", 3.3, 1.0, "no cache", no_se="one run")


def test_the_ledger_prints_a_line_per_claim_and_builds_the_closing_table(capsys):
    ledger = Ledger("99")
    ledger.record("2.3.2", "the KV cache speeds up decoding", 3.3, 1.0, rule="higher", compared_with="no cache",
                  no_se="one timed run", unit="x", headline=True)
    ledger.record("1.4", "fine-tuning beats a bag of words", 0.70, 0.75, rule="higher", compared_with="bag of words",
                  se=0.01, reference_se=0.01)
    ledger.record("1.4", "fine-tuning beats a bag of words", 0.80, 0.75, rule="higher", compared_with="bag of words",
                  se=0.01, reference_se=0.01)  # re-running a cell replaces its claim
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ("[shown] §2.3.2 the KV cache speeds up decoding [headline]: 3.3 x > 1 x (no cache); "
                          "no SE: one timed run")
    assert printed[1].startswith("[opposite] §1.4") and printed[2].startswith("[shown] §1.4")
    assert ledger.totals() == {"shown": 2, "not shown": 0, "not separated": 0, "opposite": 0}
    bundle = ledger.table()._repr_mimebundle_()
    assert [c["verdict"] for c in bundle[claims.MIME_TYPE]["claims"]] == ["shown", "shown"]
    assert "| 1.4 | fine-tuning beats a bag of words | 0.8 ± 0.01 | > 0.75 ± 0.01 (bag of words) | **shown** |" \
        in bundle["text/markdown"]
    assert bundle["text/plain"].endswith("2 claims: 2 shown")
    with pytest.raises(ValueError, match="no claims"):
        Ledger("98").table()


def test_the_course_report_reads_the_stored_tables_and_names_notebooks_without_a_ledger(tmp_path, capsys):
    import json

    ledger = Ledger("07")
    ledger.record("2.3.2", "the KV cache speeds up decoding", 3.3, 1.0, rule="higher", compared_with="no cache",
                  no_se="one timed run", headline=True, quiet=True)
    ledger.record("2.3.6", "retrieval holds past the trained length", 0.4, 0.9, rule="at least",
                  compared_with="target", se=0.05, quiet=True)
    bundle = ledger.table()._repr_mimebundle_()
    output = {"output_type": "display_data", "metadata": {}, "data": {k: bundle[k] for k in ("text/plain", claims.MIME_TYPE)}}
    cell = {"cell_type": "code", "metadata": {}, "source": "", "execution_count": 1, "outputs": [output]}
    (tmp_path / "07_long.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "08_icl.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    found = claims.collect(tmp_path)
    assert [row["verdict"] for row in found["07_long.ipynb"]] == ["shown", "not shown"] and found["08_icl.ipynb"] == []
    assert claims.main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("07 [shown] §2.3.2 the KV cache speeds up decoding [headline]")
    assert lines[-2] == "2 claims: 1 shown, 1 not shown, 0 not separated, 0 opposite (1 of the book's headline claims)"
    assert lines[-1] == "notebooks without a claims ledger yet: 08_icl.ipynb"
    with pytest.raises(ValueError, match="folder"):
        claims.collect(tmp_path / "nowhere")
