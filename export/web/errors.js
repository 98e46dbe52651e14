// An error whose message is written for the page's reader (the page shows it as it is; any
// other error is shown as "Unexpected error: ..."). The inference worker throws them too: its
// answers say which kind an error was, so the page can tell them apart.
export class PageError extends Error {}
