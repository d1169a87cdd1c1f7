"""Cases: the engine (the one writer of `Case.state`), process definitions, guards, effects,
evidence, the work queue, and how a case is shown (serialize, diagrams)."""
