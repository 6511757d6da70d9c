import type { Todo } from "../types";

const todos: Todo[] = [
  { id: 1, title: "Deploy a TypeScript API", done: true },
  { id: 2, title: "Read the stack trace of a failure", done: false },
];

export function all(): Todo[] {
  return todos;
}

export function byId(id: number): Todo {
  const todo = todos.find((t) => t.id === id);
  if (!todo) {
    throw new Error(`no todo ${id}`);
  }
  return todo;
}
