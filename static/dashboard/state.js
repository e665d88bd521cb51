// The dashboard's one piece of shared, mutable state: every module that reads or changes it imports this object.
// session: the signed-in session, null when signed out. generation: bumped on every render, so late answers and
// timers can tell that their page is no longer showing. timers: the showing page's intervals. idleTimer: when to
// ask the server whether the session outlived its idle time. lastRoute: the path drawn last (a move to another
// page puts focus on its title). lastActivity: the last key or pointer press (pages poll only after a recent one).

export const state = {
  session: null, generation: 0, timers: [], idleTimer: null, lastRoute: "", lastActivity: Date.now(),
};
