let calls = 0;

exports.first = async (event) => {
  if (event.boom) {
    const e = new Error('it blew up');
    e.name = 'Boom';
    throw e;
  }
  calls++;
  if (calls === 1) {
    const e = new Error('first attempt');
    e.name = 'Flaky';
    throw e;
  }
  return { items: event.numbers };
};

exports.double = async (n) => n * 2;
