"""The organization: schools, villages, classes, users and students; the school calendar;
enrolment periods."""
