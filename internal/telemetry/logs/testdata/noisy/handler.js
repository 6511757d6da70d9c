'use strict';

// chatty prints event.lines lines of a kilobyte each.
module.exports.chatty = async (event) => {
  const pad = 'x'.repeat(1000);
  for (let i = 0; i < event.lines; i++) {
    console.log(`chatty ${i} ${pad}`);
  }
  return {};
};

// quiet prints one line naming the event.
module.exports.quiet = async (event) => {
  console.log(`quiet ${event.n}`);
  return {};
};
