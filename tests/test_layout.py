"""The house's shape: no import circle inside ganzoo (the layers are checked by lint-imports
in CI, from the contracts in pyproject.toml)."""

import grimp


def test_no_module_of_ganzoo_imports_itself_in_a_circle():
    graph = grimp.build_graph("ganzoo")
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in graph.modules}
             for m in graph.modules}
    circles = []
    for start in edges:  # a circle through start: start reaches itself again
        seen, frontier = set(), set(edges[start])
        while frontier:
            module = frontier.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                frontier |= edges[module]
    assert circles == []
