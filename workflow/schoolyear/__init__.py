"""A school's year (SPEC §5): the roster import, the year-end roll verification's rules, the
school-year rollover and the balanced placement of a new intake."""
