"""The answer path as stages, each a module with one job and frozen dataclasses in and out:

- :mod:`.condense`: question and history → :class:`~.condense.Condensed` (the standalone
  question, the retrieval query, its parts and the kind of answer each asks for);
- :mod:`.retrieve`: a query → :class:`~.retrieve.Retrieved` passages;
- :mod:`.generate`: question and passages → streamed deltas, then a :class:`~.generate.Draft`;
- :mod:`.verify`: a draft and its passages → :class:`~.verify.Checked` sentences and citations;
- :mod:`.decide`: the checks of :mod:`qa.policy` → a :class:`~.decide.Decision` (accept,
  extract, retry or refuse, with its :class:`~qa.schema.Reason`);
- :mod:`.compose`: the decision → an :class:`~qa.schema.Answer`.

:class:`qa.answerer.Answerer` runs them; :mod:`.vectors` is the one sentence-vector cache
they embed through.
"""
