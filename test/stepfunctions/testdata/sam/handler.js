exports.greet = async (event) => ({ greeting: `hello ${event.name}` });
